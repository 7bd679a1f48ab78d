"""A minimal MQTT subscriber: prints every part message and state change of a station, with
a persistent session so that parts published while it was away are delivered when it is back
(message schema: README, "On the line: PLC and MQTT").

    python scripts/example_mqtt_subscriber.py --broker 127.0.0.1:1883 --station STATION
"""
from __future__ import annotations

import argparse
import json

import paho.mqtt.client as mqtt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT")
    parser.add_argument("--station", required=True)
    parser.add_argument("--client-id", default="adgui-example-subscriber",
                        help="keep it fixed: the broker keeps this session's messages")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    host, _, port = args.broker.rpartition(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id,
                         protocol=mqtt.MQTTv311, clean_session=False)
    if args.username:
        client.username_pw_set(args.username, args.password)
    if args.tls:
        client.tls_set()

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(f"adgui/{args.station}/#", qos=1)

    def on_message(client, userdata, message):
        payload = json.loads(message.payload)
        if message.topic.endswith("/parts"):
            print(f"{payload['part_id']}\t{payload['verdict']}\t{payload['score']}\t{payload['time']}")
        else:
            print(f"state: {payload['state']} (error {payload.get('error_code', 0)})")

    client.on_connect, client.on_message = on_connect, on_message
    client.connect(host or "127.0.0.1", int(port or 1883), 10)
    client.loop_forever()


if __name__ == "__main__":
    main()
