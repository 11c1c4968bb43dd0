"""Signal receivers of the app itself (connected in AppConfig.ready)."""
