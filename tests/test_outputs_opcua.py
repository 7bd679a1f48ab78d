"""The OPC UA server with a real asyncua client on the loopback: it logs in, subscribes to
result events, selects a recipe by method, triggers 200 parts and receives 200 events that
match the station's records; a client without credentials is refused and inspection goes on."""
from __future__ import annotations

import asyncio
import math
import time

import pytest

from adgui.outputs import OpcUaOutput
from adgui.outputs.opcua import EVENT_TYPE, NAMESPACE

from line_fakes import FakeModel, free_port, make_station, recorded_parts

asyncua = pytest.importorskip("asyncua")
from asyncua import Client, ua  # noqa: E402

USER, PASSWORD = "line", "s3cret-pw"


class Events:
    def __init__(self):
        self.received = []

    def event_notification(self, event):
        self.received.append(event)


async def connect(url: str, user: str | None = USER, password: str | None = PASSWORD) -> Client:
    client = Client(url, timeout=10)
    if user is not None:
        client.set_user(user)
        client.set_password(password)
    await client.connect()
    return client


async def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


@pytest.fixture
def opcua_station(tmp_path):
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}/adgui/"
    output = OpcUaOutput({"endpoint": url, "username": USER, "password": PASSWORD}, "line-test")
    recipes = {2: FakeModel(offset=0.3)}
    station, db_url = make_station(tmp_path, [output], recipes=recipes)
    station.open()
    station.start_run()
    yield station, output, url, db_url, recipes
    station.close()


def test_a_subscribed_client_selects_a_recipe_and_gets_an_event_per_part(opcua_station):
    station, output, url, db_url, recipes = opcua_station

    async def plc():
        client = await connect(url)
        try:
            index = await client.get_namespace_index(NAMESPACE)
            node = await client.nodes.objects.get_child(f"{index}:line-test")
            event_type = await client.nodes.base_event_type.get_child(f"{index}:{EVENT_TYPE}")
            handler = Events()
            subscription = await client.create_subscription(1, handler)
            await subscription.subscribe_events(node, event_type, queuesize=1000)
            code = await node.call_method(f"{index}:SelectRecipe", ua.Variant(2, ua.VariantType.UInt16))
            assert code == 0
            recipe_number = await node.get_child(f"{index}:RecipeNumber")
            ready = await node.get_child(f"{index}:Ready")
            deadline = time.monotonic() + 10
            while not (await recipe_number.read_value() == 2 and await ready.read_value()):
                assert time.monotonic() < deadline, "the recipe was never switched"
                await asyncio.sleep(0.005)
            for count in range(1, 201):
                assert await node.call_method(f"{index}:Trigger") is True
                await wait_for(lambda: len(handler.received) >= count)
            unknown = await node.call_method(f"{index}:SelectRecipe", ua.Variant(9, ua.VariantType.UInt16))
            counters = await (await node.get_child(f"{index}:Counters")).get_child(f"{index}:Parts")
            parts = await counters.read_value()
            await subscription.delete()
            return handler.received, unknown, parts
        finally:
            await client.disconnect()

    events, unknown, parts = asyncio.run(plc())
    assert unknown == 4 and parts == 200
    station.close()
    records = recorded_parts(db_url)
    assert len(events) == len(records) == 200
    for event, record in zip(events, records):
        assert (event.PartId, event.Sequence, event.Verdict, event.Recipe) == \
            (record.part_id, record.sequence, record.verdict, record.recipe)
        assert math.isclose(event.Score, record.score)
    assert {record.recipe for record in records} == {"recipe2"}
    assert recipes[2].calls == 200


def test_a_client_without_credentials_is_refused_and_inspection_goes_on(opcua_station):
    station, output, url, db_url, _ = opcua_station

    async def attempts():
        for user, password in ((None, None), (USER, "wrong"), ("intruder", PASSWORD)):
            with pytest.raises(Exception) as refused:
                client = await connect(url, user, password)
                await client.disconnect()
            assert "BadIdentityTokenRejected" in repr(refused.value) or \
                "BadUserAccessDenied" in repr(refused.value), repr(refused.value)
        client = await connect(url)
        try:
            index = await client.get_namespace_index(NAMESPACE)
            node = await client.nodes.objects.get_child(f"{index}:line-test")
            assert await node.call_method(f"{index}:Trigger") is True
            parts = await (await node.get_child(f"{index}:Counters")).get_child(f"{index}:Parts")
            deadline = time.monotonic() + 10
            while await parts.read_value() < 1:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
        finally:
            await client.disconnect()

    asyncio.run(attempts())
    station.close()
    assert len(recorded_parts(db_url)) == 1


def test_anonymous_access_is_off_unless_asked_for():
    with pytest.raises(ValueError, match="anonymous access is off"):
        OpcUaOutput({"endpoint": "opc.tcp://127.0.0.1:4840/"})
    OpcUaOutput({"endpoint": "opc.tcp://127.0.0.1:4840/", "allow_anonymous": True})


def test_with_a_certificate_only_encrypted_clients_get_in(tmp_path):
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    async def make(name: str, uri: str, use):
        key, cert = tmp_path / f"{name}.pem", tmp_path / f"{name}.der"
        await setup_self_signed_certificate(key, cert, uri, "localhost", [use], {"commonName": name})
        return key, cert

    server_key, server_cert = asyncio.run(make("server", "urn:freeopcua:python:server",
                                               ExtendedKeyUsageOID.SERVER_AUTH))
    client_key, client_cert = asyncio.run(make("client", "urn:adgui:test:client",
                                               ExtendedKeyUsageOID.CLIENT_AUTH))
    url = f"opc.tcp://127.0.0.1:{free_port()}/adgui/"
    output = OpcUaOutput({"endpoint": url, "username": USER, "password": PASSWORD,
                          "certificate": str(server_cert), "private_key": str(server_key)},
                         "line-test")
    station, db_url = make_station(tmp_path, [output])
    station.open()
    station.start_run()

    async def clients():
        with pytest.raises(Exception):  # no unencrypted endpoint is offered
            plain = await connect(url)
            await plain.disconnect()
        client = Client(url, timeout=10)
        client.application_uri = "urn:adgui:test:client"
        await client.set_security_string(f"Basic256Sha256,SignAndEncrypt,{client_cert},{client_key}")
        client.set_user(USER)
        client.set_password(PASSWORD)
        await client.connect()
        try:
            index = await client.get_namespace_index(NAMESPACE)
            node = await client.nodes.objects.get_child(f"{index}:line-test")
            return await node.call_method(f"{index}:Trigger")
        finally:
            await client.disconnect()

    try:
        assert asyncio.run(clients()) is True
        assert wait_until_parts(station, 1)
    finally:
        station.close()
    assert len(recorded_parts(db_url)) == 1


def wait_until_parts(station, count: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while station.state.parts < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
