package cluster

import (
	"bytes"
	"fmt"
	"text/template"
)

// patroniYAML is one Patroni node's configuration. The timings trade a
// short failover (the leader key expires ttl seconds after the primary's
// last renewal) against false alarms on a busy two-core machine:
// loop_wait + 2 × retry_timeout must stay within ttl. synchronous_mode
// makes the primary wait for the standby's flush before it acknowledges a
// commit, so an acknowledged commit survives the primary's loss (RPO 0);
// pg_rewind (with wal_log_hints) lets a lost primary come back as the new
// primary's standby.
var patroniYAML = template.Must(template.New("patroni").Parse(`scope: credits
name: pg{{.N}}
restapi:
  listen: 127.0.0.1:{{.REST}}
  connect_address: 127.0.0.1:{{.REST}}
etcd3:
  hosts: {{.Etcd}}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        shared_buffers: 64MB
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{{.PG}}
  connect_address: 127.0.0.1:{{.PG}}
  data_dir: {{.Data}}
  bin_dir: {{.Bin}}
  pgpass: {{.Dir}}/pgpass
  authentication:
    replication:
      username: replicator
      password: replicator
    superuser:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: '{{.Socket}}'
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
`))

// haproxyCfg puts HAProxy in front of everything. The web and gateway
// backends are checked every second on /readyz,
// every 250 ms while an instance changes state or is down (so that the
// instances are back soon after a database failover, when every /readyz
// failed at once)
// and a request that could not reach an instance is sent to another one
// (retries, redispatch); an instance marked down keeps its requests in
// flight until they finish. The PostgreSQL ports follow Patroni's /primary
// and /replica checks and cut a demoted server's sessions.
var haproxyCfg = template.Must(template.New("haproxy").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`global
  maxconn 4096
  stats socket {{.Sock}} mode 600 level admin

defaults
  mode http
  log global
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout check 2s
  retries 3
  option redispatch 1
  # The instances trust 127.0.0.1 (TRUSTED_PROXIES) to name the client.
  option forwardfor

listen stats
  bind 127.0.0.1:{{.P.Stats}}
  stats enable
  stats uri /
  stats refresh 2s

frontend web
  bind 127.0.0.1:{{.P.Web}}
  default_backend serve

backend serve
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2
{{- range $i, $p := .P.Serve}}
  server serve{{inc $i}} 127.0.0.1:{{$p}} check
{{- end}}

frontend gateway
  bind 127.0.0.1:{{.P.Gateway}}
  default_backend gateway

backend gateway
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 2
{{- range $i, $p := .P.Gateways}}
  server gateway{{inc $i}} 127.0.0.1:{{$p}} check
{{- end}}

listen pg-write
  mode tcp
  bind 127.0.0.1:{{.P.PGWrite}}
  timeout client 30m
  timeout server 30m
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
{{- range $i, $p := .P.Postgres}}
  server pg{{inc $i}} 127.0.0.1:{{$p}} check port {{index $.P.Patroni $i}}
{{- end}}

listen pg-read
  mode tcp
  bind 127.0.0.1:{{.P.PGRead}}
  timeout client 30m
  timeout server 30m
  option httpchk GET /replica
  http-check expect status 200
  default-server inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
{{- range $i, $p := .P.Postgres}}
  server pg{{inc $i}} 127.0.0.1:{{$p}} check port {{index $.P.Patroni $i}}
{{- end}}
`))

func render(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("cluster: %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}
