"""The dashboard: what awaits review, sign-off, re-review or a second admin, incidents not closed
and feedback reports per model, recent denials, decisions per tier over time, and whether guarded
changes are being applied by a single admin."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from govern.admin.access import ANY_ROLE, READERS, holds, html_errors, roles_required
from govern.admin.charts import line_chart
from govern.decisions.stats import decisions_per_tier, recent_denials
from govern.extensions import current_session
from govern.governance.feedback import RECENT_DAYS, feedback_counts
from govern.governance.incidents import list_incidents
from govern.governance.overview import all_overviews
from govern.governance.proposals import list_proposals, single_admin
from govern.governance.re_reviews import DUE, OVERDUE
from govern.models.base import utcnow
from govern.models.incident import CLOSED
from govern.models.proposal import PENDING
from govern.policy.store import current_document

bp = Blueprint("dashboard", __name__)
html_errors(bp)

HOURS = 24


@bp.get("/dashboard")
@roles_required(*ANY_ROLE)
def index() -> str:
    session = current_session()
    now = utcnow()
    overviews = all_overviews(session, now)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    series = decisions_per_tier(session, end=end, buckets=HOURS, width=timedelta(hours=1))
    tiers = list(current_document(session).tiers)
    chart = line_chart(series.counts, [start.strftime("%H:%M") for start in series.starts], tiers)
    return render_template(
        "dashboard/index.html",
        awaiting_rating=[o for o in overviews if o.awaiting_rating],
        awaiting_review=[o for o in overviews if o.awaiting_review],
        awaiting_sign_off=[o for o in overviews if o.awaiting_sign_off],
        suspended=[o for o in overviews if o.model.suspended],
        re_reviews_due=[o for o in overviews if o.re_review and o.re_review.state == DUE],
        re_reviews_overdue=[o for o in overviews if o.re_review and o.re_review.state == OVERDUE],
        denials=recent_denials(session), chart=chart, can_read_decisions=holds(*READERS),
        totals={line.label: sum(series.counts.get(line.label, ())) for line in chart.lines},
        single_admin=single_admin(session), pending_proposals=len(list_proposals(session, PENDING)),
        incidents=[i for i in list_incidents(session) if i.state != CLOSED],
        feedback=feedback_counts(session, now), feedback_days=RECENT_DAYS,
    )
