"""Development and test support for the desk: demo accounts, a server in a thread, Debian's Chromium, screenshots.

Nothing here is imported by the desk itself; ``screenshots`` and ``browser`` need the dev dependencies (Playwright).
"""
