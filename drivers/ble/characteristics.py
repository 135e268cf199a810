"""One entry point for every supported characteristic: ``decode_characteristic(0x2A35, data)``."""

from __future__ import annotations

from collections.abc import Callable

from drivers.ble import (
    blood_pressure,
    body_composition,
    current_time,
    glucose,
    pulse_oximeter,
    racp,
    thermometer,
    weight_scale,
)
from drivers.ble.uuids import Characteristic
from drivers.errors import FrameError
from drivers.measurement import DecodedFrame

__all__ = ["DECODERS", "SUPPORTED_UUIDS", "decode_characteristic"]

C = Characteristic
DECODERS: dict[int, Callable[[bytes], DecodedFrame]] = {
    C.BLOOD_PRESSURE_MEASUREMENT: blood_pressure.decode_blood_pressure,
    C.INTERMEDIATE_CUFF_PRESSURE: blood_pressure.decode_intermediate_cuff_pressure,
    C.BLOOD_PRESSURE_FEATURE: blood_pressure.decode_blood_pressure_feature,
    C.GLUCOSE_MEASUREMENT: glucose.decode_glucose,
    C.GLUCOSE_MEASUREMENT_CONTEXT: glucose.decode_glucose_context,
    C.GLUCOSE_FEATURE: glucose.decode_glucose_feature,
    C.RECORD_ACCESS_CONTROL_POINT: racp.decode_racp,
    C.TEMPERATURE_MEASUREMENT: thermometer.decode_temperature,
    C.INTERMEDIATE_TEMPERATURE: thermometer.decode_intermediate_temperature,
    C.TEMPERATURE_TYPE: thermometer.decode_temperature_type,
    C.MEASUREMENT_INTERVAL: thermometer.decode_measurement_interval,
    C.PLX_SPOT_CHECK_MEASUREMENT: pulse_oximeter.decode_plx_spot_check,
    C.PLX_CONTINUOUS_MEASUREMENT: pulse_oximeter.decode_plx_continuous,
    C.PLX_FEATURES: pulse_oximeter.decode_plx_features,
    C.WEIGHT_MEASUREMENT: weight_scale.decode_weight,
    C.WEIGHT_SCALE_FEATURE: weight_scale.decode_weight_scale_feature,
    C.BODY_COMPOSITION_MEASUREMENT: body_composition.decode_body_composition,
    C.BODY_COMPOSITION_FEATURE: body_composition.decode_body_composition_feature,
    C.DATE_TIME: current_time.decode_date_time_characteristic,
    C.DAY_DATE_TIME: current_time.decode_day_date_time_characteristic,
    C.EXACT_TIME_256: current_time.decode_exact_time_256_characteristic,
    C.CURRENT_TIME: current_time.decode_current_time_characteristic,
}
SUPPORTED_UUIDS: tuple[int, ...] = tuple(sorted(DECODERS))


def decode_characteristic(uuid16: int, data: bytes) -> DecodedFrame:
    """Decode the value of a SIG characteristic; FrameError for an unknown UUID or a bad value."""
    decoder = DECODERS.get(uuid16)
    if decoder is None:
        raise FrameError(f"characteristic {uuid16:#06x} is not supported")
    return decoder(bytes(data))
