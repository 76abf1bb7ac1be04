"""DiscoveryScan's network side: target expansion and the allow-list, the TCP sweep, RTSP
confirmation. Plain code with no Kubernetes in it."""
