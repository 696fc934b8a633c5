"""The web console at /marketplace: committed static assets (HTML, ES modules, CSS) that talk to the
public REST API only. This package serves them with a strict Content-Security-Policy."""
