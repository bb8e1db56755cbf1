"""The desk: the managers' web app (sign-in, my work, cases, actions, escalations, dashboard).

Entry point, thin: parse, authenticate, call one storage command or query, render. Start it with
``desk.app:create_app(settings, services)`` (under any ASGI server) or ``python -m desk``.
"""
