package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/internal/backoffice"
	"github.com/seed75218f88/credits/internal/platform/db"
)

const staffUsage = `usage:
  credits staff create --email EMAIL --roles support,finance,admin [--name NAME] [--password PASSWORD | --password-stdin]
      Without a password, one is generated and printed once.
  credits staff set-roles --email EMAIL --roles ROLES   (an empty --roles "" removes every role)
  credits staff reset-totp --email EMAIL
      Removes the user's authenticator (the last admin lost their phone); audited as the system.
  credits staff list`

// runStaff manages back-office users: `credits staff create|set-roles|list`.
func runStaff(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, staffUsage)
		return errors.New("a subcommand is needed")
	}
	pool, err := openDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if args[0] == "reset-totp" {
		return staffResetTOTP(ctx, pool, auth.New(pool, auth.Options{}), args[1:], os.Stdout)
	}
	return staffCommand(ctx, auth.New(pool, auth.Options{}), args, os.Stdin, os.Stdout)
}

// staffResetTOTP removes a staff user's authenticator and writes the audit
// row (actor: the system) in the same transaction: the way back in when no
// admin with an authenticator is left to do it from /admin/staff.
func staffResetTOTP(ctx context.Context, pool *pgxpool.Pool, svc *auth.Service, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("staff reset-totp", flag.ContinueOnError)
	email := fs.String("email", "", "the staff user's email address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	u, err := svc.UserByLogin(ctx, *email)
	if err != nil {
		return describeAuthError(err)
	}
	err = db.InTx(ctx, pool, func(tx pgx.Tx) error {
		if u, err = svc.ResetTOTPTx(ctx, tx, u.ID); err != nil {
			return err
		}
		_, err := backoffice.Audit(ctx, tx, backoffice.Entry{ActorKind: backoffice.ActorSystem, Action: backoffice.ActionStaffTOTPReset,
			Reason: "credits staff reset-totp", Detail: map[string]any{"staff_id": u.ID, "staff_email": u.Email}})
		return err
	})
	if err != nil {
		return describeAuthError(err)
	}
	fmt.Fprintf(out, "staff user %d (%s): authenticator removed; they enrol a new one at their next sign-in\n", u.ID, u.Email)
	return nil
}

// staffCommand runs one staff subcommand on svc, reading a password from in
// when asked to and writing results to out.
func staffCommand(ctx context.Context, svc *auth.Service, args []string, in io.Reader, out io.Writer) error {
	switch args[0] {
	case "create":
		return staffCreate(ctx, svc, args[1:], in, out)
	case "set-roles":
		return staffSetRoles(ctx, svc, args[1:], out)
	case "list":
		return staffList(ctx, svc, out)
	}
	return fmt.Errorf("unknown staff subcommand %q\n%s", args[0], staffUsage)
}

func staffCreate(ctx context.Context, svc *auth.Service, args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("staff create", flag.ContinueOnError)
	email := fs.String("email", "", "the staff user's email address (their login)")
	rolesFlag := fs.String("roles", "", "comma-separated roles: support, finance, admin")
	name := fs.String("name", "", "display name")
	password := fs.String("password", "", "password (visible in the shell history: prefer --password-stdin or none)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *rolesFlag == "" {
		return errors.New("--email and --roles are required")
	}
	roles, err := auth.ParseRoles(*rolesFlag)
	if err != nil {
		return describeAuthError(err)
	}
	if *fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	generated := *password == ""
	if generated {
		*password = auth.GeneratePassword()
	}
	u, err := svc.CreateStaff(ctx, auth.StaffRequest{Email: *email, Password: *password, Name: *name, Roles: roles})
	if err != nil {
		return describeAuthError(err)
	}
	fmt.Fprintf(out, "staff user %d created: %s, roles %s\n", u.ID, u.Email, joinRoles(u.Roles))
	if generated {
		fmt.Fprintf(out, "password (shown once, store it now): %s\n", *password)
	}
	return nil
}

func staffSetRoles(ctx context.Context, svc *auth.Service, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("staff set-roles", flag.ContinueOnError)
	email := fs.String("email", "", "the staff user's email address")
	rolesFlag := fs.String("roles", "", "comma-separated roles: support, finance, admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("--email is required")
	}
	roles, err := auth.ParseRoles(*rolesFlag)
	if err != nil {
		return describeAuthError(err)
	}
	u, err := svc.UserByLogin(ctx, *email)
	if err != nil {
		return describeAuthError(err)
	}
	if u, err = svc.SetRoles(ctx, u.ID, roles); err != nil {
		return describeAuthError(err)
	}
	fmt.Fprintf(out, "staff user %d (%s): roles %s\n", u.ID, u.Email, joinRoles(u.Roles))
	return nil
}

func staffList(ctx context.Context, svc *auth.Service, out io.Writer) error {
	users, err := svc.ListStaff(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEMAIL\tNAME\tROLES\tDISABLED\tLAST SIGN-IN (UTC)")
	for _, u := range users {
		last := "never"
		if !u.LastSignInAt.IsZero() {
			last = u.LastSignInAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%t\t%s\n", u.ID, u.Email, u.Name, joinRoles(u.Roles), u.Disabled, last)
	}
	return w.Flush()
}

func joinRoles(roles []auth.Role) string {
	if len(roles) == 0 {
		return "(none)"
	}
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// describeAuthError turns the codes operators may hit into sentences.
func describeAuthError(err error) error {
	switch {
	case errors.Is(err, auth.ErrLoginTaken):
		return errors.New("a user with this email already exists")
	case errors.Is(err, auth.ErrInvalidEmail):
		return errors.New("not a valid email address")
	case errors.Is(err, auth.ErrWeakPassword):
		return fmt.Errorf("password refused (%s): at least 8 characters, not only digits, not the email", auth.Code(err))
	case errors.Is(err, auth.ErrNotFound):
		return errors.New("no user with this email")
	case errors.Is(err, auth.ErrUnknownRole):
		return fmt.Errorf("%w (the roles are support, finance, admin)", err)
	case errors.Is(err, auth.ErrNotStaff):
		return errors.New("this user is a customer, not staff")
	case errors.Is(err, auth.ErrLastAdmin):
		return errors.New("this is the last enabled admin: the admin role stays")
	}
	return err
}
