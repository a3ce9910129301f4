"""The metrics: what the collector says of the chat, served on a port of their own and under
the web port's /metrics, each only to the addresses allowed; and the command line's checks."""

import importlib.util
import urllib.error
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tcpchat import server as server_module
from tcpchat.transports import metrics

from helpers import (TIMEOUT, Harness, register_irc, running_server, run_server, wait_until,
                     web_backend)


def samples(text):
    """``{(name, labels...): value}`` of a scrape's text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.values()))] = sample.value
    return found


def test_the_collector_counts_users_messages_and_turns():
    chat = Harness(flood=None)
    alice = chat.irc("alice")
    chat.plain("bob")
    alice.send("PRIVMSG #lobby :hello")
    chat.core.chat.stats.turn(0.0003)
    found = samples(generate_latest(metrics.registry_for(chat.core)).decode())
    assert found[("tcpchat_users", "irc", "tcp")] == 1
    assert found[("tcpchat_users", "plain", "tcp")] == 1
    assert found[("tcpchat_registrations_total",)] == 2
    assert found[("tcpchat_channels",)] == 1
    assert found[("tcpchat_deliveries_total",)] >= 1
    assert found[("tcpchat_loop_turn_seconds_bucket", "0.0005")] == 1
    assert found[("tcpchat_loop_turn_seconds_bucket", "0.00025")] == 0
    assert found[("tcpchat_largest_sendq_bytes",)] > 0  # nobody read its output here
    assert found[("process_open_fds",)] > 0


def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_a_port_of_their_own_answers_the_allowed_addresses_only():
    chat = Harness()
    registry = metrics.registry_for(chat.core)
    served = metrics.serve("127.0.0.1", 0, registry, metrics.allow_list("127.0.0.0/8"))
    refusing = metrics.serve("127.0.0.1", 0, registry, metrics.allow_list("10.0.0.0/8"))
    try:
        status, text = scrape(f"http://127.0.0.1:{served.server_address[1]}/metrics")
        assert status == 200 and "tcpchat_registrations_total 0.0" in text
        assert scrape(f"http://127.0.0.1:{refusing.server_address[1]}/metrics") == (
            403, "Not for your address.\n")
    finally:
        served.shutdown()
        refusing.shutdown()


@pytest.mark.parametrize("networks, status", [("127.0.0.1", 200), ("192.168.0.0/16", 403)])
def test_the_web_port_serves_them_under_metrics_to_the_allowed(networks, status):
    def start(core):
        loop = web_backend()(core)
        loop.web.handlers[b"/metrics"] = metrics.page(metrics.registry_for(core),
                                                      metrics.allow_list(networks))
        return loop

    with running_server(start=start) as server:
        address = server.web_address
        got, text = scrape(f"http://{address[0]}:{address[1]}/metrics")
        assert got == status
        assert ("tcpchat_channels" in text) == (status == 200)


def test_the_command_line_checks_what_it_is_given(monkeypatch, capsys):
    assert "--metrics web needs --web" in run_server("--metrics", "web").stderr
    assert "is no address or network" in run_server("--metrics", "127.0.0.1:0",
                                                    "--metrics-allow", "nowhere").stderr
    assert "is not a port" in run_server("--metrics", "127.0.0.1:99999").stderr

    def missing():
        raise metrics.MissingLibrary("--metrics needs prometheus-client: pip install "
                                     "'tcpchat[metrics]'")
    monkeypatch.setattr(metrics, "_library", missing)
    with pytest.raises(SystemExit) as stopped:
        server_module.main(["--port", "0", "--metrics", "127.0.0.1:0"])
    assert stopped.value.code == 2
    assert "pip install 'tcpchat[metrics]'" in capsys.readouterr().err


def test_the_soak_run_reads_the_metrics_as_prometheus_would_and_draws_them(tmp_path):
    """``python -m tcpchat.bench.soak --plot`` draws its run from the metrics alone: the
    reads must see users come and the loop's turns counted, bucket by bucket."""
    from tcpchat.bench import soak
    with running_server() as server:
        registry = metrics.registry_for(server.core)
        served = metrics.serve("127.0.0.1", 0, registry, metrics.allow_list("127.0.0.1"))
        scraper = soak.Scraper(("127.0.0.1", served.server_address[1]), every=0.05)
        scraper.start()
        try:
            people = [register_irc(server.address, name) for name in ("ann", "bob")]
            assert wait_until(lambda: any(values["tcpchat_users"] == 2
                                          for _, values in scraper.samples))
        finally:
            scraper.stop()
            served.shutdown()
            for person in people:
                person.close()
    last = scraper.samples[-1][1]
    assert last["tcpchat_loop_turn_seconds_count"] > 0
    assert last[("tcpchat_loop_turn_seconds_bucket", "+Inf")] == last[
        "tcpchat_loop_turn_seconds_count"]
    if importlib.util.find_spec("matplotlib") is not None:
        soak.plot(scraper.samples, tmp_path / "soak.png", "a test")
        assert (tmp_path / "soak.png").stat().st_size > 1000


def test_a_soak_run_shorter_than_a_reads_interval_is_read_at_its_start_and_its_end(tmp_path):
    """A run of a second or two still draws: what was read at its two ends (it drew nothing
    but an error when no timed read had come)."""
    from tcpchat.bench import soak
    with running_server() as server:
        registry = metrics.registry_for(server.core)
        served = metrics.serve("127.0.0.1", 0, registry, metrics.allow_list("127.0.0.1"))
        scraper = soak.Scraper(("127.0.0.1", served.server_address[1]), every=3600)
        try:
            scraper.start()
        finally:
            scraper.stop()
            served.shutdown()
    assert len(scraper.samples) == 2
    assert all(values["tcpchat_users"] == 0 for _, values in scraper.samples)
    if importlib.util.find_spec("matplotlib") is not None:
        for samples, name in ((scraper.samples, "two.png"), ([], "none.png")):
            soak.plot(samples, tmp_path / name, "a short run")
            assert (tmp_path / name).stat().st_size > 1000


def test_the_soak_plots_p99_turn_is_the_bound_of_the_bucket_it_falls_in():
    from tcpchat.bench.soak import TIMEOUT, _quantile
    name = "tcpchat_loop_turn_seconds"
    before = {f"{name}_count": 100, (f"{name}_bucket", "0.001"): 90,
              (f"{name}_bucket", "0.01"): 100, (f"{name}_bucket", "+Inf"): 100}
    after = {f"{name}_count": 300, (f"{name}_bucket", "0.001"): 197,  # 107 of 200 fast
             (f"{name}_bucket", "0.01"): 299, (f"{name}_bucket", "+Inf"): 300}
    bounds = ["0.001", "0.01", "+Inf"]
    assert _quantile(before, after, bounds, 0.5) == 0.001
    assert _quantile(before, after, bounds, 0.99) == 0.01
    assert _quantile(before, after, bounds, 1.0) == TIMEOUT  # +Inf, drawn at the top
    assert _quantile(after, after, bounds, 0.99) == 0.0  # no turns between the reads

