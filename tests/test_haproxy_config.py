"""deploy/haproxy.cfg as rendered for deployment is a configuration haproxy itself accepts (haproxy -c), with
every server in both backends. Its behaviour in front of real daphne processes: tests/faults/test_load_balancer.py."""

import subprocess

import pytest

from eflux.lib.haproxy import config_render, main
from tests.haproxy import haproxy_binary


def test_the_rendered_configuration_is_valid_for_haproxy(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        config_render(
            listen="0.0.0.0:80",  # -c only checks, binds nothing
            servers=["127.0.0.1:8001", "127.0.0.1:8002", "10.0.0.12:8001"],
            health_host="csms.example.com",
            stats_socket=str(tmp_path / "admin.sock"),
            maxconn=1000,
        )
    )
    text = config.read_text()
    assert "$" not in text.replace("%[", "")  # every placeholder filled
    assert text.count("server d3 10.0.0.12:8001") == 2 and "track ocpp/d3" in text
    checked = subprocess.run([haproxy_binary(), "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_command_line_needs_a_server(capsys):
    with pytest.raises(SystemExit):
        main(["--health-host", "csms.example.com"])
    assert "--server" in capsys.readouterr().err
