"""An ONVIF NetworkVideoTransmitter announced by an independent WS-Discovery implementation
(the `wsdiscovery` package), so the operator's Probe is tested against someone else's code.

    python tests/media/onvif_camera.py --xaddr http://192.168.251.1/onvif/device_service
Prints "ready" once published; runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from wsdiscovery import QName, Scope
from wsdiscovery.publishing import ThreadedWSPublishing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xaddr", required=True)
    parser.add_argument("--name", default="TestCam")
    args = parser.parse_args()
    publisher = ThreadedWSPublishing()
    publisher.start()
    publisher.publishService(
        types=[QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")],
        scopes=[Scope(f"onvif://www.onvif.org/name/{args.name}")],
        xAddrs=[args.xaddr],
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
