"""The national follow-up forms as Questionnaires the agent publishes, one per programme.

Each form field of ``model.FollowUp`` is one item whose ``linkId`` is the field's name, so a
QuestionnaireResponse answers the form field by field (``sync.fhir.followup``). Coded answers use
CodeSystems under the agent's namespace (the national CV tables have no FHIR URLs); the codes are
the printed form's own (1 门诊, 2 家庭, 3 电话 ...). Numbers with a unit are ``quantity`` answers in
UCUM (with HL7 ``quantity-precision``, so "65.50" kg comes back as typed), counts are ``integer``.

Canonical: ``<base>/Questionnaire/<programme>-follow-up``, version ``VERSION``. The base is the
agent's namespace (``codes.Namespace``, ``[platform] namespace``), passed in as ``ns``. The
Questionnaire is PUT to an id derived from its canonical and version, so publishing it again (a
replay, a second PC of the same clinic) writes the same resource, never a second one; the engine
publishes it once per platform (``sync.engine.forms``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Literal

from clinic_agent.core.model import Programme
from sync.fhir import codes
from sync.fhir.codes import DEFAULT_NAMESPACE, Namespace
from sync.fhir.common import Resource, coding, prune

VERSION: Final = "2017.1"  # the 3rd edition (2017) of the national service specification; .1: our first mapping

ItemType = Literal["date", "choice", "integer", "quantity", "string"]
BOTH: Final = frozenset({Programme.HYPERTENSION, Programme.DIABETES})
DIABETES: Final = frozenset({Programme.DIABETES})
_UNIT_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"


def code_system(name: str, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The URL of one of the form's CodeSystems."""
    return ns.code_system(name)


@dataclass(frozen=True, slots=True)
class Item:
    """One field of the form."""

    link_id: str  # the FollowUp field it answers
    text: str
    type: ItemType
    system: str = ""  # choice: the CodeSystem name
    options: tuple[tuple[str, str], ...] = ()  # choice: (code, display)
    unit: str = ""  # quantity: the UCUM code ("" when UCUM has none)
    unit_display: str = ""  # quantity: the unit as printed on the form, when UCUM has no code for it
    repeats: bool = False
    programmes: frozenset[Programme] = BOTH
    required: bool = False


_RATING = (("1", "良好"), ("2", "一般"), ("3", "差"))
_SALT = (("light", "轻"), ("medium", "中"), ("heavy", "重"))
METHODS: Final = (("1", "门诊"), ("2", "家庭"), ("3", "电话"))
HYPERTENSION_SYMPTOMS: Final = (
    ("1", "无症状"),
    ("2", "头痛头晕"),
    ("3", "恶心呕吐"),
    ("4", "眼花耳鸣"),
    ("5", "呼吸困难"),
    ("6", "心悸胸闷"),
    ("7", "鼻衄出血不止"),
    ("8", "四肢发麻"),
    ("9", "下肢水肿"),
)
DIABETES_SYMPTOMS: Final = (
    ("1", "无症状"),
    ("2", "多饮"),
    ("3", "多食"),
    ("4", "多尿"),
    ("5", "视力模糊"),
    ("6", "感染"),
    ("7", "手脚麻木"),
    ("8", "下肢浮肿"),
    ("9", "体重明显下降"),
)

ITEMS: Final[tuple[Item, ...]] = (
    Item("visit_date", "随访日期", "date", required=True),
    Item("method", "随访方式", "choice", "follow-up-method", METHODS, required=True),
    Item("symptoms", "症状", "choice", "symptom", repeats=True),  # options per programme (symptom_options)
    Item("other_symptoms", "其他症状", "string"),
    Item("sbp", "收缩压 (mmHg)", "integer"),
    Item("dbp", "舒张压 (mmHg)", "integer"),
    Item("weight_kg", "体重 (kg)", "quantity", unit="kg"),
    Item("target_weight_kg", "目标体重 (kg)", "quantity", unit="kg"),
    Item("bmi", "体质指数 (kg/m²)", "quantity", unit="kg/m2"),
    Item("target_bmi", "目标体质指数 (kg/m²)", "quantity", unit="kg/m2"),
    Item("heart_rate", "心率 (次/分钟)", "integer"),
    Item(
        "foot_pulse",
        "足背动脉搏动",
        "choice",
        "foot-pulse",
        (("1", "触及正常"), ("2", "减弱"), ("3", "消失")),
        programmes=DIABETES,
    ),
    Item("smoking_per_day", "日吸烟量 (支)", "integer"),
    Item("target_smoking_per_day", "目标日吸烟量 (支)", "integer"),
    Item("alcohol_liang_per_day", "日饮酒量 (两)", "quantity", unit_display="两"),
    Item("target_alcohol_liang_per_day", "目标日饮酒量 (两)", "quantity", unit_display="两"),
    Item("exercise_times_per_week", "运动 (次/周)", "integer"),
    Item("exercise_minutes", "运动 (分钟/次)", "integer"),
    Item("target_exercise_times_per_week", "目标运动 (次/周)", "integer"),
    Item("target_exercise_minutes", "目标运动 (分钟/次)", "integer"),
    Item("salt_intake", "摄盐情况", "choice", "salt-intake", _SALT),
    Item("target_salt_intake", "目标摄盐情况", "choice", "salt-intake", _SALT),
    Item("staple_food_g", "主食 (克/天)", "integer", programmes=DIABETES),
    Item("target_staple_food_g", "目标主食 (克/天)", "integer", programmes=DIABETES),
    Item("psychological", "心理调整", "choice", "rating", _RATING),
    Item("compliance", "遵医行为", "choice", "rating", _RATING),
    Item("fasting_glucose", "空腹血糖值 (mmol/L)", "quantity", unit="mmol/L", programmes=DIABETES),
    Item("hba1c", "糖化血红蛋白 (%)", "quantity", unit="%", programmes=DIABETES),
    Item("hba1c_date", "糖化血红蛋白检查日期", "date", programmes=DIABETES),
    Item("tests", "辅助检查", "string"),
    Item("adherence", "服药依从性", "choice", "adherence", (("1", "规律"), ("2", "间断"), ("3", "不服药"))),
    Item("adverse_reaction", "药物不良反应 (空: 无)", "string"),
    Item(
        "hypoglycaemia",
        "低血糖反应",
        "choice",
        "hypoglycaemia",
        (("1", "无"), ("2", "偶尔"), ("3", "频繁")),
        programmes=DIABETES,
    ),
    Item(
        "classification",
        "此次随访分类",
        "choice",
        "follow-up-classification",  # CV05.10.012 随访评价结果
        (("1", "控制满意"), ("2", "控制不满意"), ("3", "不良反应"), ("4", "并发症")),
    ),
    Item("medications", "用药情况", "string", repeats=True),  # a repeating group: see MEDICATION_ITEMS
    Item("insulin", "胰岛素 (种类, 用法和用量)", "string", programmes=DIABETES),
    Item("referral_reason", "转诊原因", "string"),
    Item("referral_to", "转诊机构及科别", "string"),
    Item("next_visit", "下次随访日期", "date"),
    Item("doctor", "随访医生", "string"),
)
MEDICATION_ITEMS: Final[tuple[Item, ...]] = (
    Item("name", "药物名称", "string"),
    Item("times_per_day", "每日次数", "integer"),
    Item("dose", "每次剂量", "string"),
)
_SLUG: Final = {Programme.HYPERTENSION: "hypertension-follow-up", Programme.DIABETES: "diabetes-follow-up"}
_TITLE: Final = {Programme.HYPERTENSION: "高血压患者随访服务记录表", Programme.DIABETES: "2型糖尿病患者随访服务记录表"}
_NAME: Final = {Programme.HYPERTENSION: "HypertensionFollowUp", Programme.DIABETES: "DiabetesFollowUp"}


def items_for(programme: Programme) -> tuple[Item, ...]:
    """The items of a programme's form, in the printed order."""
    return tuple(item for item in ITEMS if programme in item.programmes)


def symptom_options(programme: Programme) -> tuple[tuple[str, str], ...]:
    """The symptom codes of a programme's form (the two forms number their symptoms differently)."""
    return HYPERTENSION_SYMPTOMS if programme is Programme.HYPERTENSION else DIABETES_SYMPTOMS


def symptom_system(programme: Programme, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The CodeSystem of a programme's symptoms."""
    return code_system(f"{programme.value}-symptom", ns)


def canonical(programme: Programme, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The Questionnaire's canonical URL (without the version)."""
    return ns.questionnaire(_SLUG[programme])


def versioned(programme: Programme, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """``canonical|version``, as QuestionnaireResponse.questionnaire names it."""
    return f"{canonical(programme, ns)}|{VERSION}"


def programme_of(questionnaire: str, ns: Namespace = DEFAULT_NAMESPACE) -> Programme | None:
    """The programme a ``QuestionnaireResponse.questionnaire`` canonical names (any version), if ours."""
    url = questionnaire.split("|", 1)[0]
    return next((p for p in Programme if url == canonical(p, ns)), None)


def resource_id(programme: Programme, ns: Namespace = DEFAULT_NAMESPACE) -> str:
    """The id the Questionnaire is PUT to: derived from its canonical and version, the same on every PC."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, versioned(programme, ns)))


def to_fhir(programme: Programme, ns: Namespace = DEFAULT_NAMESPACE) -> Resource:
    """The Questionnaire of a programme's follow-up form."""
    return {
        "resourceType": "Questionnaire",
        "url": canonical(programme, ns),
        "version": VERSION,
        "name": _NAME[programme],
        "title": _TITLE[programme],
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "Clinic Agent",
        "description": "国家基本公共卫生服务规范 (第三版, 2017): " + _TITLE[programme],
        "item": [_item(programme, item, ns) for item in items_for(programme)],
    }


def _item(programme: Programme, item: Item, ns: Namespace) -> Resource:
    if item.link_id == "medications":
        return {
            "linkId": item.link_id,
            "text": item.text,
            "type": "group",
            "repeats": True,
            "item": [_item(programme, child, ns) for child in MEDICATION_ITEMS],
        }
    options = symptom_options(programme) if item.link_id == "symptoms" else item.options
    system = symptom_system(programme, ns) if item.link_id == "symptoms" else code_system(item.system, ns)
    return prune(
        {
            "extension": [{"url": _UNIT_EXTENSION, "valueCoding": coding(codes.UCUM, item.unit)}]
            if item.unit
            else None,
            "linkId": item.link_id,
            "text": item.text,
            "type": item.type,
            "required": True if item.required else None,
            "repeats": True if item.repeats else None,
            "answerOption": [{"valueCoding": coding(system, code, display)} for code, display in options] or None,
        }
    )
