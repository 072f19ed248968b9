"""Current selections (``qSelectionObject.qSelections``) from a session's selection state."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.model.datamodel import DataModel
from engine.model.selection import Inference

#: up to this many selected values are listed by name; more are summarised as "N of M"
SELECTION_THRESHOLD = 6


def current_selection_items(model: DataModel, inf: Inference, selections: Any) -> list[dict[str, Any]]:
    """One ``NxCurrentSelectionItem`` per field with a selection in the inference's state."""
    items = []
    state = inf.state
    for sort_index, name in enumerate(state.fields):
        field = model.fields.get(name)
        if field is None:
            continue
        exists = inf.exists(name)
        selected = state.selected(name)
        if selected is None:  # not reached: ``state.fields`` are the fields with a selection
            continue
        selected = selected[(selected < len(exists))]
        selected = selected[exists.take(selected)] if len(selected) else selected
        count = int(len(selected))
        total = int(np.count_nonzero(exists))
        texts = field.symbols.texts(selected).tolist() if count <= SELECTION_THRESHOLD else []
        summary = ", ".join(texts) if texts else f"{count} of {total}"
        items.append(
            {
                "qTotal": total,
                "qIsNum": bool(field.symbols.is_numeric),
                "qField": name,
                "qLocked": state.is_locked(name),
                "qOneAndOnlyOne": name in getattr(selections, "one_and_only_one", ()),
                "qTextSearch": "",
                "qSelectedCount": count,
                "qSelected": summary,
                "qRangeInfo": [],
                "qSortIndex": sort_index,
                "qStateCounts": inf.state_counts(name),
                "qSelectedFieldSelectionInfo": [{"qName": t, "qFieldSelectionMode": "NORMAL"} for t in texts],
                "qNotSelectedFieldSelectionInfo": [],
                "qSelectionThreshold": SELECTION_THRESHOLD,
                "qReadableName": name,
                "qIsHidden": field.is_hidden,
                "qDimensionReferences": [],
            }
        )
    return items
