"""The old import names of the resident registry, for callers not yet moved (ui/).

The registry's jobs live in their own modules: ``registry_search`` (search, list, rows, one
household), ``households`` (every household and resident write), ``duplicates``, ``history`` and
``exports.export_list``. New code imports from those.
"""

from __future__ import annotations

from .duplicates import *  # noqa: F401,F403
from .duplicates import DuplicateGroup, DuplicateMember, duplicate_scan  # noqa: F401
from .exports import EXPORT_COLUMNS, ListExport, export_list  # noqa: F401
from .history import *  # noqa: F401,F403
from .history import HistoryChange, HistoryEntry, resident_history  # noqa: F401
from .households import *  # noqa: F401,F403
from .households import (  # noqa: F401
    HouseholdChoice, ResidentInput, SimilarResident, SimilarResidentsFound, add_member, find_households,
    move_to_household, register_household, set_status, similar_residents, update_household, update_resident,
)
from .registry_search import *  # noqa: F401,F403
from .registry_search import (  # noqa: F401
    ANY_HARDSHIP, ANY_SPECIAL, NO_SPECIAL, NOT_RECORDED, NOT_RECORDED_LABEL, RELATION_RANK, SORT_KEYS,
    HouseholdView, MemberRow, RegistryChoices, RegistryFilter, ResidentDetail, SearchTerm, age_on,
    compiled_sql, default_year, filter_choices, household_view, is_selective, parse_search, prepare_index,
    registry_statement, resident_detail, resident_ids, resident_rows, search_hint, special_groups_text,
)

__all__ = [
    "ANY_HARDSHIP", "ANY_SPECIAL", "NOT_RECORDED", "NO_SPECIAL", "SORT_KEYS", "DuplicateGroup",
    "HistoryEntry", "HouseholdChoice", "HouseholdView", "RegistryChoices",
    "RegistryFilter", "ResidentDetail", "ResidentInput", "SearchTerm", "SimilarResidentsFound",
    "add_member", "duplicate_scan", "export_list", "filter_choices", "find_households",
    "household_view", "move_to_household", "parse_search", "prepare_index", "register_household",
    "registry_statement", "resident_detail", "resident_history", "resident_ids", "resident_rows",
    "search_hint", "set_status", "similar_residents", "update_household", "update_resident",
]
