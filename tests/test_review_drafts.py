"""Commentary drafts: typed but not saved, kept in the database until saved or discarded."""

from __future__ import annotations

import pytest

import kpis
from review import commentary

PERIOD, PROFILE = "2026-Q3", "lead"


@pytest.fixture
def con(tmp_path):
    c = kpis.connect(tmp_path / "drafts.duckdb")
    yield c
    c.close()


def test_a_draft_is_kept_per_period_profile_scope_and_section(con):
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}  # no table yet: no drafts
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "Cost per 1k fell  ")
    commentary.save_draft(con, PERIOD, PROFILE, "team=fraud", "cost", "Fraud's cost is flat.")
    commentary.save_draft(con, PERIOD, None, "all", "delivery", "No targets here.")
    # Exactly as typed (trailing spaces too: the text area is filled with it again).
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {"cost": "Cost per 1k fell  "}
    assert commentary.load_drafts(con, PERIOD, PROFILE, "team=fraud") == {"cost": "Fraud's cost is flat."}
    assert commentary.load_drafts(con, PERIOD, None, "all") == {"delivery": "No targets here."}
    assert commentary.load_drafts(con, "2026-Q2", PROFILE, "all") == {}
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "Cost per 1k fell 4.5%.")  # a later edit replaces
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {"cost": "Cost per 1k fell 4.5%."}
    # Drafts are not commentary: the review and its files never see them.
    assert commentary.load(con, PERIOD, PROFILE, "all") == {}


def test_saving_clears_the_draft_and_discarding_keeps_the_saved_text(con):
    commentary.save(con, PERIOD, PROFILE, "all", "cost", "Saved text.")
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "Saved text, edited.")
    commentary.save_draft(con, PERIOD, PROFILE, "all", "delivery", "Another section's draft.")
    commentary.discard_draft(con, PERIOD, PROFILE, "all", "cost")
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {"delivery": "Another section's draft."}
    assert commentary.load(con, PERIOD, PROFILE, "all") == {"cost": "Saved text."}
    commentary.save(con, PERIOD, PROFILE, "all", "delivery", "Another section's draft.")
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}
    assert commentary.load(con, PERIOD, PROFILE, "all")["delivery"] == "Another section's draft."


def test_typing_the_saved_text_back_is_no_draft(con):
    commentary.save(con, PERIOD, PROFILE, "all", "cost", "Saved text.")
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "Saved text. More")
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "Saved text. ")  # back to what is saved
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}
    commentary.save_draft(con, PERIOD, PROFILE, "all", "scorecard", "")  # empty, nothing saved: no draft
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}
    commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "")  # clearing saved text is a draft
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {"cost": ""}


def test_a_draft_too_long_is_refused(con):
    with pytest.raises(ValueError, match="keep it under"):
        commentary.save_draft(con, PERIOD, PROFILE, "all", "cost", "x" * (commentary.MAX_CHARS + 1))
    assert commentary.load_drafts(con, PERIOD, PROFILE, "all") == {}
    commentary.discard_draft(con, PERIOD, PROFILE, "all", "cost")  # nothing to discard: fine
