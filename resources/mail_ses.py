"""The Amazon SES transport of :class:`~resources.email.EmailSender`: ``sesv2.send_email`` with raw content.

Plain Python (no Dagster). One client per session, created on the first send; every SES error code
maps to a :class:`~resources.mail_base.DeliveryError` subclass.
"""

from __future__ import annotations

import email.message
from contextlib import suppress
from typing import Any

from resources.mail_base import (
    DeliveryError,
    PermanentDeliveryError,
    SendResult,
    TemporaryDeliveryError,
    Throttle,
    TransportError,
    bare_address,
    flatten,
)

SES_TEMPORARY = {
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "RequestTimeout", "RequestTimeoutException",
}  # fmt: skip
SES_TRANSPORT = {
    "AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException",
    "NotFoundException", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
}  # fmt: skip
SES_PERMANENT = {"MessageRejected", "BadRequestException", "InvalidParameterValue"}


def _ses_client(region: str, endpoint: str | None, timeout: float) -> Any:
    """A ``sesv2`` client from a fresh boto3 session (tests replace this function)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "sesv2",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"},
            ignore_configured_endpoint_urls=True,  # the endpoint is resolved here, never AWS_ENDPOINT_URL
        ),
    )  # fmt: skip


class SesSession:
    def __init__(
        self, *, region: str, endpoint: str | None, mail_from: str, configuration_set: str | None,
        timeout: float, throttle: Throttle,
    ):  # fmt: skip
        self.region, self.endpoint, self.timeout = region, endpoint, timeout
        self.mail_from, self.envelope_from = mail_from, bare_address(mail_from)
        self.configuration_set, self.throttle = configuration_set, throttle
        self._client: Any = None

    def send(self, message: email.message.EmailMessage, recipient: str) -> SendResult:
        from botocore import exceptions as bce

        address = bare_address(recipient)
        if not address:
            raise PermanentDeliveryError(f"{recipient!r} is not an email address", recipient=recipient)
        data, _ = flatten(message, self.envelope_from)
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.envelope_from,
            "Destination": {"ToAddresses": [address]},
            "Content": {"Raw": {"Data": data}},
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        self.throttle.wait()
        if self._client is None:
            self._client = _ses_client(self.region, self.endpoint, self.timeout)
        try:
            resp = self._client.send_email(**kwargs)
        except bce.ClientError as exc:
            raise self._classify(exc, address, recipient) from exc
        except (bce.ReadTimeoutError, bce.ConnectionClosedError) as exc:
            raise TemporaryDeliveryError(f"{address}: SES timed out: {exc}", recipient=recipient) from exc
        except bce.EndpointConnectionError as exc:  # includes connect timeouts, after botocore's retries
            raise TransportError(f"SES endpoint unreachable: {exc}") from exc
        except bce.NoCredentialsError as exc:
            raise TransportError(f"SES: no AWS credentials: {exc}") from exc
        except bce.BotoCoreError as exc:
            raise TransportError(f"SES client error: {exc}") from exc
        return SendResult(str(resp["MessageId"]))

    def _classify(self, exc: Any, address: str, recipient: str) -> DeliveryError:
        error = exc.response.get("Error", {})
        code, text = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        detail = f"SES {code}: {text}" if text else f"SES {code}"
        if code in SES_TEMPORARY:
            return TemporaryDeliveryError(f"{address}: {detail}", recipient=recipient, code=code)
        if code in SES_PERMANENT:
            # a rejection naming our sender (unverified identity) fails every message: stop the run
            if code == "MessageRejected" and self.envelope_from.lower() in text.lower() \
                    and address.lower() not in text.lower():
                return TransportError(f"sender {self.envelope_from} rejected: {detail}", code=code)
            return PermanentDeliveryError(f"{address}: {detail}", recipient=recipient, code=code)
        return TransportError(f"{detail} (sending {address})", code=code)

    def close(self) -> None:
        if self._client is not None:
            with suppress(Exception):  # closing a client must never mask the run's outcome
                self._client.close()
            self._client = None
