"""The Billion Songs website: Flask pages, the JSON API and CDN cache headers.

Nothing happens at import; ``web.app.create_app`` builds the application.
"""
