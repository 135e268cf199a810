"""Every code system, identifier system, profile and extension URL the FHIR mapping uses.

The agent's own extensions, NamingSystems, CodeSystems and Questionnaires live under one base, the
``Namespace`` in use: ``[platform] namespace`` in agent.toml (``clinic_agent.runtime.config``), handed to
every mapper through the engine's options (``EngineOptions.namespace``). Nothing here is a URL of
ours: everything of ours is a property of ``Namespace``. The default base is ``DEFAULT_NAMESPACE_BASE``.

Our extensions (all on the resource unless noted), under ``<base>/StructureDefinition/``:

- ``gbt2261-sex`` (Patient): valueCoding, the GB/T 2261.1 sex code as recorded (0, 1, 2, 9);
  ``Patient.gender`` carries the FHIR reading of it.
- ``ethnicity`` (Patient): valueCoding with a GB/T 3304 code (two digits), or valueString when
  the file holds free text.
- ``key-population`` (Patient, repeating): valueCoding from ``Namespace.key_population_system``.
- ``village`` (Patient.address): valueString, the administrative village (行政村).
- ``id-number-override`` (Patient.identifier): the doctor's reason for keeping an ID number.
- ``device-time`` (Observation): valueString, the time as the device's own clock wrote it.
- ``reading-source`` (Observation): valueCode, how the reading arrived (manual, ble, astm, hl7 ...).
- ``reading-flag`` (Observation, repeating): valueString, a plausibility or alert flag.
- ``extreme-value-reason``, ``original-quantity`` (Observation): see ``Namespace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clinic_agent.core import model
from sync.settings import DEFAULT_NAMESPACE_BASE as DEFAULT_NAMESPACE_BASE

# Identifier systems
UUID_SYSTEM: Final = "urn:ietf:rfc:3986"  # value is "urn:uuid:<record id>": the agent's own stable id
ID_CARD_SYSTEM: Final = "urn:oid:2.16.156.10011.1.3"  # 身份证号 (WS/T 483 CDA practice)
HEALTH_RECORD_SYSTEM: Final = "urn:oid:2.16.156.10011.1.2"  # 健康档案编号

# HL7 terminology
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ROLE_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
LOINC: Final = model.LOINC
UCUM: Final = "http://unitsofmeasure.org"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"

# Chinese national value sets with CDA OIDs (the form code lists without one are ours: ``Namespace``)
GBT2261_SEX: Final = "urn:oid:2.16.156.10011.2.3.3.4"
GBT3304_ETHNICITY: Final = "urn:oid:2.16.156.10011.2.3.3.3"

# HL7 extensions
QUANTITY_PRECISION: Final = "http://hl7.org/fhir/StructureDefinition/quantity-precision"

# Vital-signs profiles (FHIR R4 core), by LOINC code of the Observation.
VITAL_SIGNS_BASE: Final = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
VITAL_SIGN_PROFILES: Final[dict[str, str]] = {
    "85354-9": "http://hl7.org/fhir/StructureDefinition/bp",
    "8867-4": "http://hl7.org/fhir/StructureDefinition/heartrate",
    "9279-1": "http://hl7.org/fhir/StructureDefinition/resprate",
    "2708-6": "http://hl7.org/fhir/StructureDefinition/oxygensat",
    "59408-5": "http://hl7.org/fhir/StructureDefinition/oxygensat",
    "8310-5": "http://hl7.org/fhir/StructureDefinition/bodytemp",
    "8302-2": "http://hl7.org/fhir/StructureDefinition/bodyheight",
    "29463-7": "http://hl7.org/fhir/StructureDefinition/bodyweight",
    "39156-5": "http://hl7.org/fhir/StructureDefinition/bmi",
    "9843-4": "http://hl7.org/fhir/StructureDefinition/headcircum",
    "85353-1": "http://hl7.org/fhir/StructureDefinition/vitalspanel",
}
# Vital signs without a core profile of their own (category vital-signs, no meta.profile).
OTHER_VITAL_SIGNS: Final = frozenset({"8280-0", "8478-0"})

BP_PANEL: Final = "85354-9"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
MEAN_ARTERIAL: Final = "8478-0"
HEART_RATE: Final = "8867-4"
OXYGEN_SATURATION: Final = "2708-6"
PULSE_OXIMETRY: Final = "59408-5"

RELATION_CODES: Final[dict[str, tuple[str, str]]] = {
    "father": ("FTH", "father"),
    "mother": ("MTH", "mother"),
    "sibling": ("SIB", "sibling"),
    "child": ("CHILD", "child"),
}


@dataclass(frozen=True, slots=True)
class Namespace:
    """The URLs of this agent's own extensions, NamingSystems and CodeSystems, under one base.

    The base is ``[platform] namespace`` in agent.toml (``clinic_agent.runtime.config``): the platform
    team chooses it; every mapper is handed the one in use. ``base`` is an https URL without a
    trailing slash (the config checks it).
    """

    base: str

    def contains(self, url: str) -> bool:
        """True for a URL under this namespace."""
        return url.startswith(self.base + "/")

    def code_system(self, name: str) -> str:
        """One of our CodeSystems (the follow-up forms' code lists among them)."""
        return self._cs(name)

    def questionnaire(self, slug: str) -> str:
        """The canonical URL of one of our Questionnaires (without the version)."""
        return f"{self.base}/Questionnaire/{slug}"

    def _ext(self, name: str) -> str:
        return f"{self.base}/StructureDefinition/{name}"

    def _cs(self, name: str) -> str:
        return f"{self.base}/CodeSystem/{name}"

    def _ns(self, name: str) -> str:
        return f"{self.base}/NamingSystem/{name}"

    # Identifier systems
    @property
    def device_id_system(self) -> str:
        """The agent's device identity (driver name, address)."""
        return self._ns("device-id")

    @property
    def clinic_code_system(self) -> str:
        """The clinic code the platform assigns at enrolment."""
        return self._ns("clinic-code")

    @property
    def store_id_system(self) -> str:
        """The id of one PC's store (the audit anchor)."""
        return self._ns("store-id")

    # Code systems
    @property
    def cv02_10_005(self) -> str:
        """既往史-疾病 form codes: 2 高血压, 3 糖尿病, ..."""
        return self._cs("CV02.10.005")

    @property
    def family_disease(self) -> str:
        """家族史 form codes: ..., 11 先天畸形, 12 其他."""
        return self._cs("family-history-disease")

    @property
    def drug_allergy(self) -> str:
        """药物过敏史 form codes: 2 青霉素, 3 磺胺, 4 链霉素, 5 其他."""
        return self._cs("drug-allergy")

    @property
    def key_population_system(self) -> str:
        """Key-population flags (Patient extension)."""
        return self._cs("key-population")

    @property
    def past_history_category(self) -> str:
        """surgery | trauma | transfusion."""
        return self._cs("past-history-category")

    # Extensions
    @property
    def ext_sex(self) -> str:
        """Patient: the GB/T 2261.1 sex code as recorded."""
        return self._ext("gbt2261-sex")

    @property
    def ext_ethnicity(self) -> str:
        """Patient: GB/T 3304 coding, or free text."""
        return self._ext("ethnicity")

    @property
    def ext_key_population(self) -> str:
        """Patient (repeating): a key-population flag."""
        return self._ext("key-population")

    @property
    def ext_village(self) -> str:
        """Patient.address: the administrative village."""
        return self._ext("village")

    @property
    def ext_id_number_override(self) -> str:
        """The ID card identifier: the doctor's reason for keeping a number that fails its check digit."""
        return self._ext("id-number-override")

    @property
    def ext_device_time(self) -> str:
        """Observation: the time as the device's own clock wrote it."""
        return self._ext("device-time")

    @property
    def ext_reading_source(self) -> str:
        """Observation: how the reading arrived (manual, ble, astm, hl7 ...)."""
        return self._ext("reading-source")

    @property
    def ext_reading_flag(self) -> str:
        """Observation (repeating): a plausibility or alert flag."""
        return self._ext("reading-flag")

    @property
    def ext_extreme_reason(self) -> str:
        """Observation: the doctor's reason for keeping a value outside the plausible range."""
        return self._ext("extreme-value-reason")

    @property
    def ext_original_quantity(self) -> str:
        """Observation valueQuantity: the value as measured, when it is sent converted to the profile's unit."""
        return self._ext("original-quantity")


DEFAULT_NAMESPACE: Final = Namespace(DEFAULT_NAMESPACE_BASE)
