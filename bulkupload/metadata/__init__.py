"""Document Management metadata: from each file's path to the field values Procore needs,
checked against the project's upload requirements before anything is uploaded.

    rules = load_rules("rules.toml")                 # blocking: before the loop or in a thread
    sidecar = read_sidecar("fill-in.csv")            # optional
    resolver = await MetadataResolver.create(catalog, rules, sidecar)
    outcome = await resolver.resolve(entry.rel)      # FileMetadata: ok, update_fields(), problems

Sources relied on (read, not copied): procore/documentation@06dad9dd
`document_management_integration/document_management_technical_guide.md` (upload requirements,
fields, values, keyword search, user-type reference limitation),
`document_management_metadata_details.md` (field types and what `values` carries),
`document_management_intro.md` (naming standards, ML precedence, containers); Procore support's
"What data can Procore automatically populate..." (Name filled from the file name); and the
contract files in shared/procore-contract (`...UploadRequirementsGet`, `...FieldsGet`,
`...FieldsFieldIdOrNameValuesGet`, `...DocumentUploadsPatch`).
"""

from ._catalog import Catalog
from ._errors import MetadataError
from ._lookup import KEYWORD_LIMIT
from ._memory import InMemoryCatalog
from ._outcome import FieldSetting, FileMetadata, Problem, ProblemKind
from ._patterns import BUILTINS
from ._records import (
    USER_VARIANTS,
    FieldDef,
    FieldRef,
    FieldType,
    FieldValue,
    NamingStandard,
    Qualifier,
    Requirement,
)
from ._report import ProblemSheet, Summary
from ._resolve import MetadataResolver
from ._rules import RuleSet, load_rules, parse_rules
from ._sidecar import Sidecar, parse_sidecar, read_sidecar

__all__ = [
    "BUILTINS",
    "KEYWORD_LIMIT",
    "USER_VARIANTS",
    "Catalog",
    "FieldDef",
    "FieldRef",
    "FieldSetting",
    "FieldType",
    "FieldValue",
    "FileMetadata",
    "InMemoryCatalog",
    "MetadataError",
    "MetadataResolver",
    "NamingStandard",
    "Problem",
    "ProblemKind",
    "ProblemSheet",
    "Qualifier",
    "Requirement",
    "RuleSet",
    "Sidecar",
    "Summary",
    "load_rules",
    "parse_rules",
    "parse_sidecar",
    "read_sidecar",
]
