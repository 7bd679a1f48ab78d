"""Results to the line: a PLC handshake over Modbus TCP and OPC UA, and MQTT messages.

Each kind is a class registered here; its library is imported only when it starts, so a
missing library disables that kind alone.
"""
from .base import (ERROR_CODES, DeliveryQueue, LinkStatus, Output, OutputError, StationControl,
                   StationState)
from .modbus import ModbusOutput
from .mqtt import MqttOutput
from .opcua import OpcUaOutput
from .registry import OUTPUTS, open_output, output_class, output_kinds, register

for _kind in (ModbusOutput, OpcUaOutput, MqttOutput):
    register(_kind)

__all__ = ["ERROR_CODES", "OUTPUTS", "DeliveryQueue", "LinkStatus", "ModbusOutput", "MqttOutput", "OpcUaOutput", "Output",
           "OutputError", "StationControl", "StationState", "open_output", "output_class",
           "output_kinds", "register"]
