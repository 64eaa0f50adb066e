"""voxroute's exception tree; every error the runtime raises on purpose is one of these.

VoxrouteError
├── ConfigError              bad settings, unsafe environment, refused start-up
├── InvalidInput             a request the caller can fix (maps to 400/422)
├── NotFound                 unknown id, or another org's id (maps to 404)
├── AuthError                no or bad credentials (401)
├── Forbidden                authenticated but not allowed (403)
├── Conflict                 state conflict, e.g. duplicate (409)
├── RateLimited              too many requests from this caller (429)
├── VaultError
│   ├── MasterKeyError       master key missing, malformed, unsafe or retired
│   │   ├── RingFormatError  (vault/master/ring.py) the keyring file is not ours
│   │   └── RingStateError   (vault/master/ring.py) a forbidden key-version transition
│   └── DecryptionError      tampered, moved or malformed ciphertext
├── ProviderError            a provider refused or failed (message always sanitized)
│   ├── ProviderAuthError    401/403: permanent, the key is bad
│   ├── ProviderRateLimited  429: try another key of the pool
│   ├── ProviderQuotaExceeded 402/quota: the key's account is out of credit
│   └── ProviderUnavailable  5xx, timeout, connection refused
├── KeyNotFound              no usable key for a stage (routing)
├── BillingError
│   ├── InsufficientCredit
│   ├── IdempotencyConflict  same idempotency key, different request
│   └── ReservationError     settle twice, over-settle, settle after expiry
├── TelephonyError
│   ├── SignatureInvalid
│   ├── CallTokenInvalid
│   ├── ProtocolError        (telephony/twilio/protocol.py) a malformed media-stream message
│   └── StreamRejected       (telephony/twilio/stream.py) no valid `start` on the stream
└── BodyTooLarge             (api/limits.py) a request body over the limit (413)

Leaves marked with a module live beside the code that raises them.
"""

from __future__ import annotations


class VoxrouteError(Exception):
    """Base of every deliberate voxroute error. `code` is a stable machine-readable name."""

    code = "error"
    status_code = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()


class ConfigError(VoxrouteError):
    """The configuration is invalid or unsafe."""

    code = "config_error"


class InvalidInput(VoxrouteError):
    """The request is invalid."""

    code = "invalid_input"
    status_code = 422


class NotFound(VoxrouteError):
    """Not found."""

    code = "not_found"
    status_code = 404


class AuthError(VoxrouteError):
    """Missing or invalid API token."""

    code = "unauthorized"
    status_code = 401


class Forbidden(VoxrouteError):
    """Your role does not allow this."""

    code = "forbidden"
    status_code = 403


class Conflict(VoxrouteError):
    """The request conflicts with the current state."""

    code = "conflict"
    status_code = 409


class RateLimited(VoxrouteError):
    """Too many requests; try again later."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str = "", *, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class VaultError(VoxrouteError):
    """The key vault failed."""

    code = "vault_error"


class MasterKeyError(VaultError):
    """The master key is missing, malformed, unsafe or retired."""

    code = "master_key_error"


class DecryptionError(VaultError):
    """A stored secret could not be decrypted."""

    code = "decryption_error"


class ProviderError(VoxrouteError):
    """A provider call failed. Messages never contain secret material."""

    code = "provider_error"
    status_code = 502

    def __init__(self, message: str = "", *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider rejected the key (401/403)."""

    code = "provider_auth_failed"


class ProviderRateLimited(ProviderError):
    """The provider rate-limited the key (429)."""

    code = "provider_rate_limited"


class ProviderQuotaExceeded(ProviderError):
    """The provider account behind the key is out of quota (402)."""

    code = "provider_quota_exceeded"


class ProviderUnavailable(ProviderError):
    """The provider is down, slow or unreachable."""

    code = "provider_unavailable"


class KeyNotFound(VoxrouteError):
    """No usable key for this stage."""

    code = "key_not_found"
    status_code = 409


class BillingError(VoxrouteError):
    """Billing failed."""

    code = "billing_error"
    status_code = 409


class InsufficientCredit(BillingError):
    """The organization's available credit is too low."""

    code = "insufficient_credit"
    status_code = 402


class IdempotencyConflict(BillingError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"


class ReservationError(BillingError):
    """The reservation cannot be settled or extended in its current state."""

    code = "reservation_error"


class TelephonyError(VoxrouteError):
    """A telephony request was refused."""

    code = "telephony_error"
    status_code = 400


class SignatureInvalid(TelephonyError):
    """The telephony request signature is missing or invalid."""

    code = "signature_invalid"
    status_code = 403


class CallTokenInvalid(TelephonyError):
    """The call token is missing, unknown, expired or already used."""

    code = "call_token_invalid"
    status_code = 403
