"""The request figures as Prometheus reads them: counts per method, cumulative buckets, sum and count."""

from prometheus_client import generate_latest

from engine.metrics import Metrics


def test_request_figures_in_exposition_format():
    metrics = Metrics()
    for method, seconds in (("GetLayout", 0.0004), ("GetLayout", 0.0005), ("GetLayout", 0.003),
                            ("SelectValues", 45.0)):
        metrics.request(method, seconds)
    text = generate_latest(metrics.registry).decode()
    assert 'qix_requests_total{method="GetLayout"} 3.0' in text
    assert 'qix_requests_total{method="SelectValues"} 1.0' in text
    # a value equal to a bound falls in that bound's bucket (le = "less than or equal")
    assert 'qix_request_duration_seconds_bucket{le="0.0005"} 2.0' in text
    assert 'qix_request_duration_seconds_bucket{le="0.001"} 2.0' in text
    assert 'qix_request_duration_seconds_bucket{le="0.005"} 3.0' in text
    assert 'qix_request_duration_seconds_bucket{le="30.0"} 3.0' in text
    assert 'qix_request_duration_seconds_bucket{le="+Inf"} 4.0' in text
    assert "qix_request_duration_seconds_count 4.0" in text
    assert "qix_request_duration_seconds_sum 45.0039" in text


def test_no_requests_yet():
    text = generate_latest(Metrics().registry).decode()
    assert "# TYPE qix_requests_total counter" in text
    assert 'qix_request_duration_seconds_bucket{le="+Inf"} 0.0' in text
