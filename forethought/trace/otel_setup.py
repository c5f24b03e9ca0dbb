"""The tracer provider behind ``--otel``: configured from the standard ``OTEL_*`` variables.

- ``OTEL_TRACES_EXPORTER``: ``otlp`` (default), ``console`` or ``none``, comma-separated;
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._HEADERS``,
  ``..._TIMEOUT``: read by the OTLP exporter itself (HTTP/protobuf; ``grpc`` when
  ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and its exporter package is installed);
- ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``: the resource (service name
  ``forethought`` unless set);
- ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``: record message content.

``--otel-console`` prints the spans to stderr instead, whatever the variables say.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from forethought.exceptions import UserError
from forethought.runtime.events import Subscriber
from forethought.trace.otel import INSTALL_HINT, OTelExporter

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

EXPORTERS = ("otlp", "console", "none")


def _processors(names: list[str]) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    out: list[SpanProcessor] = []
    for name in names:
        if name == "console":
            out.append(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name == "otlp":
            out.append(BatchSpanProcessor(_otlp_exporter()))
        elif name != "none":
            raise UserError(f"OTEL_TRACES_EXPORTER names {name!r}; forethought supports "
                            f"{', '.join(map(repr, EXPORTERS))}")
    return out


def _otlp_exporter() -> SpanExporter:
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # pyright: ignore[reportMissingImports]
                OTLPSpanExporter as GrpcExporter,  # pyright: ignore[reportUnknownVariableType]
            )
        except ImportError:
            raise UserError("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs "
                            "`pip install opentelemetry-exporter-otlp-proto-grpc`; the otel "
                            "extra bundles http/protobuf") from None
        return GrpcExporter()  # pyright: ignore[reportUnknownVariableType]
    if protocol != "http/protobuf":
        raise UserError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use "
                        "'http/protobuf' (bundled) or 'grpc'")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def tracer_provider(*, console: bool = False) -> TracerProvider:
    """An SDK tracer provider exporting as the ``OTEL_*`` variables say (see the module
    docs); with ``console``, to stderr. Call ``shutdown()`` on it to flush.
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        raise UserError(f"--otel needs the `otel` extra: {INSTALL_HINT}") from None
    names = ["console"] if console else [
        n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "forethought"}))
    provider = TracerProvider(resource=resource)
    for processor in _processors(names):
        provider.add_span_processor(processor)
    return provider


def start_otel(subscribers: list[Subscriber], *, console: bool = False,
               agent_name: str | None = None) -> Callable[[], None]:
    """What ``--otel`` does: add an exporter on a provider from :func:`tracer_provider` to
    ``subscribers``; returns the function that flushes and shuts the provider down.
    """
    provider = tracer_provider(console=console)
    subscribers.append(OTelExporter(tracer_provider=provider, agent_name=agent_name))
    return provider.shutdown
