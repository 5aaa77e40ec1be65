"""Third-party pieces the project must carry itself; each says why."""
