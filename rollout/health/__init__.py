"""Is it healthy: window metrics over ocr_events (this package grows gates, alerts and reports)."""
