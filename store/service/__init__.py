"""Running Usher: settings, checks, metrics, trusted proxies, background jobs, limits."""
