// Progressive enhancement only: every page works without this file.
// An external module because the Content-Security-Policy forbids inline script; it therefore also does the job of
// GOV.UK's template's inline script, marking the page as able to run GOV.UK Frontend, before initialising it.
import { initAll } from '/assets/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
