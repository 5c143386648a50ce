"""Scoring server, batch runner and trainer of modelserve (the serving image)."""
