"""SQLAlchemy models, one aggregate per module. Layer: data."""

from govern.models.access_request import AccessRequest
from govern.models.api_key import ApiKey
from govern.models.audit_event import AuditEvent
from govern.models.base import Base
from govern.models.change_counter import ChangeCounter
from govern.models.checklist_item import ChecklistItem
from govern.models.decision import Decision
from govern.models.feedback_report import FeedbackReport
from govern.models.governance_hold import GovernanceHold
from govern.models.governed_model import GovernedModel
from govern.models.identity_issuer import IdentityIssuer
from govern.models.incident import Incident, IncidentAction, IncidentReview
from govern.models.login_failure import LoginFailure
from govern.models.notification_delivery import DeliveryAttempt, NotificationDelivery
from govern.models.notification_event import NotificationEvent
from govern.models.notification_mute import NotificationMute
from govern.models.notification_outbox import NotificationCursor, NotificationMark
from govern.models.organisation import Organisation
from govern.models.person import Person
from govern.models.policy_version import PolicyVersion
from govern.models.proposal import Proposal
from govern.models.re_review import ReReview
from govern.models.red_team_exercise import (
    RatingEvidence,
    RedTeamExercise,
    RedTeamFinding,
    RedTeamParticipant,
)
from govern.models.risk_rating import RiskRating
from govern.models.safety_review import SafetyReview
from govern.models.sign_off import SignOff
from govern.models.usage import Usage
from govern.models.user import User
from govern.models.user_identity import UserIdentity
from govern.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "AccessRequest",
    "ApiKey",
    "AuditEvent",
    "Base",
    "ChangeCounter",
    "ChecklistItem",
    "Decision",
    "DeliveryAttempt",
    "FeedbackReport",
    "GovernanceHold",
    "GovernedModel",
    "IdentityIssuer",
    "Incident",
    "IncidentAction",
    "IncidentReview",
    "LoginFailure",
    "NotificationCursor",
    "NotificationDelivery",
    "NotificationEvent",
    "NotificationMark",
    "NotificationMute",
    "Organisation",
    "Person",
    "PolicyVersion",
    "Proposal",
    "RatingEvidence",
    "RedTeamExercise",
    "RedTeamFinding",
    "RedTeamParticipant",
    "ReReview",
    "RiskRating",
    "SafetyReview",
    "SignOff",
    "Usage",
    "User",
    "UserIdentity",
    "WebhookEndpoint",
]
