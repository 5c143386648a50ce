"""The v2 gRPC messages, as classes built from inference.binpb in a descriptor pool of ours.

Why a committed descriptor instead of protoc's *_pb2.py or a build-time protoc: generated
modules register package `inference` in protobuf's default pool, where tritonclient's and
MLServer's modules register the same names; the second to load fails with "duplicate symbol",
so a scoring script that calls Triton could not run in our process. A pool of our own has no
such clash. The descriptor is protoc's output from inference.proto (hack/generate-grpc.sh,
checked by a test), committed so the image build, which installs offline and without
grpcio-tools, needs no code generator.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "inference.GRPCInferenceService"

_POOL = descriptor_pool.DescriptorPool()
for _file in descriptor_pb2.FileDescriptorSet.FromString(
    files(__package__).joinpath("inference.binpb").read_bytes()
).file:
    _POOL.Add(_file)


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"inference.{name}"))


ServerLiveRequest = _message("ServerLiveRequest")
ServerLiveResponse = _message("ServerLiveResponse")
ServerReadyRequest = _message("ServerReadyRequest")
ServerReadyResponse = _message("ServerReadyResponse")
ModelReadyRequest = _message("ModelReadyRequest")
ModelReadyResponse = _message("ModelReadyResponse")
ServerMetadataRequest = _message("ServerMetadataRequest")
ServerMetadataResponse = _message("ServerMetadataResponse")
ModelMetadataRequest = _message("ModelMetadataRequest")
ModelMetadataResponse = _message("ModelMetadataResponse")
InferParameter = _message("InferParameter")
ModelInferRequest = _message("ModelInferRequest")
ModelInferResponse = _message("ModelInferResponse")


def service_methods() -> dict[str, tuple[str, str]]:
    """Method name -> (request message, response message) of the service, from the descriptor."""
    service = _POOL.FindServiceByName(SERVICE)
    return {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
