"""The smallest Flask page, served by bench/load.py under the web service's own
gunicorn settings: the ceiling a cached song page is compared with."""
from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def hello():
        return "<!doctype html><title>hello</title><p>hello</p>"

    return app
