"""A minimal OPC UA client: logs in, subscribes to the station's result events, selects a
recipe by method and triggers parts (node names: README, "On the line: PLC and MQTT").

    python scripts/example_opcua_client.py --url opc.tcp://127.0.0.1:4840/adgui/ \
        --user line --password PASSWORD --station STATION --parts 10 [--recipe 2]

Run a station first, e.g.
    adgui station --model bottle.adgui --source folder:parts/ --trigger plc --name STATION \
        --opcua opc.tcp://127.0.0.1:4840/adgui/ --opcua-username line --opcua-password PASSWORD
"""
from __future__ import annotations

import argparse
import asyncio

from asyncua import Client, ua

NAMESPACE = "urn:adgui:station"
EVENT_TYPE = "PartResultEventType"


class Results:
    def __init__(self):
        self.count = 0

    def event_notification(self, event):
        self.count += 1
        print(f"{event.PartId}\t{event.Verdict}\t{event.Score:.3f}\trecipe {event.Recipe}")


async def run(args) -> None:
    client = Client(args.url, timeout=10)
    client.set_user(args.user)
    client.set_password(args.password)
    async with client:
        index = await client.get_namespace_index(NAMESPACE)
        station = await client.nodes.objects.get_child(f"{index}:{args.station}")
        event_type = await client.nodes.base_event_type.get_child(f"{index}:{EVENT_TYPE}")
        results = Results()
        subscription = await client.create_subscription(1, results)  # publishing every 1 ms
        await subscription.subscribe_events(station, event_type, queuesize=1000)
        if args.recipe:
            code = await station.call_method(f"{index}:SelectRecipe",
                                             ua.Variant(args.recipe, ua.VariantType.UInt16))
            print(f"SelectRecipe({args.recipe}) -> error code {code}")
        ready = await station.get_child(f"{index}:Ready")
        for number in range(1, args.parts + 1):
            while not await ready.read_value():
                await asyncio.sleep(0.005)
            if not await station.call_method(f"{index}:Trigger"):
                print("trigger refused:", await (await station.get_child(f"{index}:ErrorText")).read_value())
            while results.count < number:
                await asyncio.sleep(0.001)
        await subscription.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="opc.tcp://127.0.0.1:4840/adgui/")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--station", required=True, help="the station's name (adgui station --name)")
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--recipe", type=int)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
