package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process is one member, started in its own session so that it outlives
// `credits cluster up` and can be stopped with its children (its process
// group); its id is kept in run/<name>.pid and its output in log/<name>.log.
type process struct {
	name string
	argv []string
	env  []string
	// asPostgres runs it as the postgres user (initdb and PostgreSQL refuse
	// root).
	asPostgres bool
	dir        string
}

func (c Config) start(p process) (int, error) {
	if err := os.MkdirAll(c.path("log"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(c.path("run"), 0o755); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(c.path("log", p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = p.dir
	cmd.Env = append(baseEnv(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if p.asPostgres && os.Geteuid() == 0 {
		uid, gid, home, err := postgresUser()
		if err != nil {
			return 0, err
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		cmd.Env = append(cmd.Env, "HOME="+home, "USER=postgres", "LOGNAME=postgres")
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cluster: start %s: %w", p.name, err)
	}
	pid := cmd.Process.Pid
	// Reap it in the background should it exit while we still run.
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(c.path("run", p.name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return 0, err
	}
	return pid, nil
}

// baseEnv is the start of every member's environment: members do not
// inherit the caller's (only internal/platform/config reads it), so a
// cluster runs the same whoever starts it.
func baseEnv() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if u, err := user.Current(); err == nil {
		env = append(env, "HOME="+u.HomeDir)
	}
	return env
}

// postgresUser is the postgres system user's ids and home.
func postgresUser() (uid, gid int, home string, err error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, "", errors.New("cluster: the postgres system user is missing: install the Debian package postgresql")
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, u.HomeDir, nil
}

// chownPostgres gives dir (and everything in it) to the postgres user when
// we run as root.
func chownPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, _, err := postgresUser()
	if err != nil {
		return err
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// pgRoot holds the PostgreSQL nodes' folders: the cluster's folder when the
// postgres user can reach it, else (a checkout under /root, mode 0700) a
// folder in the temporary directory named after it.
func (c Config) pgRoot() string {
	if os.Geteuid() != 0 || reachableByOthers(c.Dir) {
		return c.Dir
	}
	sum := sha256.Sum256([]byte(c.Dir))
	return filepath.Join(os.TempDir(), "credits-cluster-"+hex.EncodeToString(sum[:6]))
}

// pgDir is PostgreSQL node n's folder (its Patroni file, data, pgpass).
func (c Config) pgDir(n int) string { return filepath.Join(c.pgRoot(), fmt.Sprintf("pg%d", n)) }

// reachableByOthers reports whether every folder above dir (and dir) lets
// any user through.
func reachableByOthers(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil && st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// Pid is the process id recorded for member name, or 0.
func (c Config) Pid(name string) int {
	b, err := os.ReadFile(c.path("run", name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// Alive reports whether member name runs.
func (c Config) Alive(name string) bool { return alive(c.Pid(name)) }

// stopGroup sends sig to the process group of member name, waits up to
// wait for its leader to end, then kills the group.
func (c Config) stopGroup(name string, sig syscall.Signal, wait time.Duration) {
	pid := c.Pid(name)
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, sig)
	deadline := time.Now().Add(wait)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = os.Remove(c.path("run", name+".pid"))
}

// Kill sends SIGKILL to member name alone (not its children): the faults'
// kill -9.
func (c Config) Kill(name string) error {
	pid := c.Pid(name)
	if !alive(pid) {
		return fmt.Errorf("cluster: %s is not running", name)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	for alive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// postmasterPid reads the postmaster's id from PostgreSQL node n's data
// folder (0 when it is not running).
func (c Config) postmasterPid(n int) int {
	b, err := os.ReadFile(filepath.Join(c.pgDir(n), "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if !alive(pid) {
		return 0
	}
	return pid
}
