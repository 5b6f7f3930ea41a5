"""Deploy stage: settings, structured logs, readiness, bundle, service, alerts, backup.

Modules are imported on use (``from l2trader.deploy.settings import load_settings``);
importing this package does no work.
"""
