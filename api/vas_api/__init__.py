"""VAS read facade: camera listings, live figures, thumbnails, metrics and the web viewer."""
