"""The contract pages embed tables generated from schema.py; they must not drift."""

from __future__ import annotations

from pathlib import Path

from l2trader.schema import EVENT_DTYPE, EVENT_FIELD_DOCS, field_table

DOCS = Path(__file__).resolve().parents[3] / "docs" / "contracts"


def test_events_contract_table_matches_schema() -> None:
    text = (DOCS / "events.md").read_text()
    begin = text.index("-->", text.index("BEGIN GENERATED")) + len("-->")
    end = text.index("<!-- END GENERATED")
    assert text[begin:end].strip() == field_table(EVENT_DTYPE, EVENT_FIELD_DOCS)


def test_feature_frame_contract_lists_every_registered_family() -> None:
    from l2trader.features.registry import markdown_table

    text = (DOCS / "feature_frame.md").read_text()
    begin = text.index("-->", text.index("BEGIN GENERATED")) + len("-->")
    end = text.index("<!-- END GENERATED")
    assert text[begin:end].strip() == markdown_table().strip()


def test_order_fill_state_contract_lists_every_field_with_its_dtype() -> None:
    from l2trader.schema import FILL_DTYPE, ORDER_DTYPE, ORDER_EVENT_DTYPE, STATE_DTYPE

    text = (DOCS / "orders.md").read_text()
    for dtype in (ORDER_DTYPE, ORDER_EVENT_DTYPE, FILL_DTYPE, STATE_DTYPE):
        for name in dtype.names or ():
            row = f"| `{name}` | `{dtype.fields[name][0]}` |"  # type: ignore[index]
            assert row in text, f"{name}: {row} missing from orders.md"
        assert f"{dtype.itemsize} bytes" in text
