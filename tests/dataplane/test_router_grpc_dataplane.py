"""The router's gRPC door, rendered and run by a real nginx in front of real scoring servers,
called with Triton's client (tritonclient[grpc]): split, pin, keys, and the router's own
refusals as gRPC statuses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from dataplane_harness import PRIMARY_KEY, SECONDARY_KEY, backends, free_port
from modelserve_operator.builders.router_config import PIN_HEADER as PIN
from modelserve_operator.builders.router_config import Backend
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.nginx
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
DEADLINE_S = 30.0


def start(start_router, servers, **kwargs):
    """A router whose backends serve gRPC on the scoring servers' shared gRPC port."""
    return start_router(backend_grpc_port=servers["blue"].grpc_port, **kwargs)


def infer_request() -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=list(ROWS.shape))
    tensor.contents.fp64_contents.extend(ROWS.ravel().tolist())
    return request


@pytest.fixture
def channel_to() -> Iterator:
    channels: list[grpc.Channel] = []

    def open_channel(router) -> service_pb2_grpc.GRPCInferenceServiceStub:
        channel = grpc.insecure_channel(router.grpc_target)
        channels.append(channel)
        return service_pb2_grpc.GRPCInferenceServiceStub(channel)

    yield open_channel
    for channel in channels:
        channel.close()


def call(stub, metadata: tuple = ()) -> tuple[service_pb2.ModelInferResponse, str]:
    """One ModelInfer; the answer and the deployment the router says served it."""
    response, rpc = stub.ModelInfer.with_call(
        infer_request(), metadata=metadata, timeout=DEADLINE_S
    )
    served = dict(rpc.initial_metadata()).get(PIN, "")
    return response, served


def refusal(stub, metadata: tuple = ()) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(infer_request(), metadata=metadata, timeout=DEADLINE_S)
    return caught.value


def labels(response: service_pb2.ModelInferResponse) -> list[int]:
    (output,) = [o for o in response.outputs if o.name == "predict"] or response.outputs[:1]
    return list(output.contents.int64_contents) or list(
        np.frombuffer(response.raw_output_contents[0], dtype=np.int64)
    )


def test_grpc_split_90_10_is_within_3_points_over_2000_calls(
    scoring_servers, start_router, channel_to
):
    router = start(
        start_router, scoring_servers, backends=backends(scoring_servers, blue=90, green=10)
    )
    stub = channel_to(router)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(stub), range(2000)))

    served = Counter(name for _, name in results)
    assert set(served) == {"blue", "green"}, served
    assert {tuple(labels(response)) for response, _ in results} == {(0, 2)}
    green_share = served["green"] / 20
    print(f"gRPC 90/10 split over 2000 calls: green {green_share:.1f} %")
    assert 7 <= green_share <= 13, served


def test_grpc_pin_metadata_reaches_a_deployment_at_zero_percent(
    scoring_servers, start_router, channel_to
):
    router = start(
        start_router, scoring_servers, backends=backends(scoring_servers, blue=100, green=0)
    )
    stub = channel_to(router)

    pinned = [call(stub, ((PIN, "green"),))[1] for _ in range(20)]
    by_alias = call(stub, (("azureml-model-deployment", "green"),))[1]

    assert pinned == ["green"] * 20
    assert by_alias == "green"


def test_grpc_key_auth_takes_both_keys_and_refuses_others_with_unauthenticated(
    scoring_servers, start_router, channel_to
):
    router = start(
        start_router,
        scoring_servers,
        backends=backends(scoring_servers, blue=100),
        auth_mode="key",
    )
    stub = channel_to(router)

    without_key = refusal(stub)
    wrong_key = refusal(stub, (("authorization", "Bearer not-the-key-0123456789"),))
    with_primary, _ = call(stub, (("authorization", f"Bearer {PRIMARY_KEY}"),))
    with_secondary, _ = call(stub, (("authorization", f"bearer {SECONDARY_KEY}"),))

    for refused in (without_key, wrong_key):
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer <key>" in refused.details()
    assert labels(with_primary) == labels(with_secondary) == [0, 2]


def test_tritons_own_client_works_through_the_router_with_a_key(scoring_servers, start_router):
    router = start(
        start_router,
        scoring_servers,
        backends=backends(scoring_servers, blue=50, green=50),
        auth_mode="key",
    )
    client = triton.InferenceServerClient(router.grpc_target)
    headers = {"authorization": f"Bearer {PRIMARY_KEY}"}
    tensor = triton.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS)

    assert client.is_server_ready(headers=headers)
    metadata = client.get_model_metadata("iris", headers=headers, as_json=True)
    result = client.infer("iris", [tensor], headers=headers)
    with pytest.raises(InferenceServerException) as refused:
        client.infer("iris", [tensor])

    assert metadata["name"] == "iris"
    assert result.as_numpy(result.get_response().outputs[0].name).tolist() == [0, 2]
    assert "UNAUTHENTICATED" in str(refused.value.status())


def test_grpc_unknown_pin_is_not_found_naming_the_deployments(
    scoring_servers, start_router, channel_to
):
    router = start(start_router, scoring_servers, backends=backends(scoring_servers, blue=100))

    error = refusal(channel_to(router), ((PIN, "purple"),))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert PIN in error.details() and "known deployments: blue" in error.details()


def test_grpc_with_all_weights_zero_is_unavailable_unless_pinned(
    scoring_servers, start_router, channel_to
):
    router = start(
        start_router, scoring_servers, backends=backends(scoring_servers, blue=0, green=0)
    )
    stub = channel_to(router)

    error = refusal(stub)
    _, pinned = call(stub, ((PIN, "blue"),))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "takes traffic" in error.details()
    assert pinned == "blue"


def test_grpc_to_an_unreachable_deployment_is_unavailable(start_router, channel_to):
    router = start_router(
        [Backend("green", f"127.0.0.1:{free_port()}", 100)], backend_grpc_port=free_port()
    )

    error = refusal(channel_to(router))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not be reached" in error.details()


def test_a_models_own_grpc_error_passes_through_the_router(
    scoring_servers, start_router, channel_to
):
    router = start(start_router, scoring_servers, backends=backends(scoring_servers, blue=100))
    request = service_pb2.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[1, 3])
    tensor.contents.fp64_contents.extend([1.0, 2.0, 3.0])

    with pytest.raises(grpc.RpcError) as caught:
        channel_to(router).ModelInfer(request, timeout=DEADLINE_S)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4" in caught.value.details()
