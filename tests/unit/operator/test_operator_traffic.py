"""applied_traffic: traffic only moves to deployments whose pods are Ready."""

from modelserve_operator.builders import applied_traffic


def test_all_ready_applies_the_request():
    assert applied_traffic(
        {"blue": 90, "green": 10}, {"blue": 100}, {"blue": True, "green": True}
    ) == (
        {"blue": 90, "green": 10},
        None,
    )


def test_canary_waits_for_new_deployment_and_names_it():
    applied, reason = applied_traffic(
        {"blue": 90, "green": 10}, {"blue": 100}, {"blue": True, "green": False}
    )
    assert applied == {"blue": 100}
    assert "green" in reason and "blue" not in reason


def test_first_deployment_gets_nothing_until_ready():
    applied, reason = applied_traffic({"blue": 100}, {}, {"blue": False})
    assert applied == {}
    assert "blue" in reason


def test_first_deployment_gets_everything_once_ready():
    assert applied_traffic({"blue": 100}, {}, {"blue": True}) == ({"blue": 100}, None)


def test_shrinking_share_of_unready_deployment_does_not_block():
    # blue blips unready while its share is reduced; green (gaining) is Ready.
    applied, reason = applied_traffic(
        {"blue": 50, "green": 50}, {"blue": 100}, {"blue": False, "green": True}
    )
    assert (applied, reason) == ({"blue": 50, "green": 50}, None)


def test_unchanged_split_survives_a_readiness_blip():
    applied, reason = applied_traffic(
        {"blue": 80, "green": 20}, {"blue": 80, "green": 20}, {"blue": True, "green": False}
    )
    assert (applied, reason) == ({"blue": 80, "green": 20}, None)


def test_deleted_deployment_share_is_spread_while_waiting():
    # red was removed from the spec; new green is not Ready yet.
    applied, reason = applied_traffic(
        {"blue": 50, "green": 50},
        {"blue": 60, "red": 40},
        {"blue": True, "green": False},
    )
    assert applied == {"blue": 100}
    assert "green" in reason


def test_rescale_keeps_total_at_100_with_rounding():
    applied, _ = applied_traffic(
        {"d": 100},
        {"a": 33, "b": 33, "c": 33, "gone": 1},
        {"a": True, "b": True, "c": True, "d": False},
    )
    assert sum(applied.values()) == 100
    assert set(applied) == {"a", "b", "c"}


def test_zero_weights_are_dropped_and_all_zero_stops_serving():
    assert applied_traffic({"blue": 100, "green": 0}, {}, {"blue": True, "green": False}) == (
        {"blue": 100},
        None,
    )
    assert applied_traffic({"blue": 0}, {"blue": 100}, {"blue": True}) == ({}, None)


def test_full_blue_green_flip_waits_then_moves():
    requested = {"blue": 0, "green": 100}
    during, reason = applied_traffic(requested, {"blue": 100}, {"blue": True, "green": False})
    assert during == {"blue": 100} and "green" in reason
    after, reason = applied_traffic(requested, during, {"blue": True, "green": True})
    assert (after, reason) == ({"green": 100}, None)
