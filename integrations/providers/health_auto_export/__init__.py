"""Health Auto Export (iOS app): bodies its REST API automation posts to us."""
