package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed75218f88/credits/internal/app"
	"github.com/seed75218f88/credits/internal/auth"
)

// demoStaffPassword signs in every demo staff user (development only).
const demoStaffPassword = "demo-staff-pass-1"

// demoStaff are the back-office users make run creates: one per role, and
// a second finance user so maker-checker approvals can be tried.
var demoStaff = []struct {
	email string
	roles []auth.Role
}{
	{"support@example.com", []auth.Role{auth.RoleSupport}},
	{"finance@example.com", []auth.Role{auth.RoleFinance}},
	{"finance2@example.com", []auth.Role{auth.RoleFinance}},
	{"admin@example.com", []auth.Role{auth.RoleAdmin}},
}

// seedStaff creates the demo staff users, or resets their roles when they
// exist (idempotent), and lists their sign-ins.
func seedStaff(ctx context.Context, ap *app.App) (seedResult, error) {
	a := ap.Auth
	var res seedResult
	for _, s := range demoStaff {
		u, err := a.UserByLogin(ctx, s.email)
		switch {
		case errors.Is(err, auth.ErrNotFound):
			_, err = a.CreateStaff(ctx, auth.StaffRequest{Email: s.email, Password: demoStaffPassword, Name: s.email, Roles: s.roles})
		case err == nil:
			_, err = a.SetRoles(ctx, u.ID, s.roles)
		}
		if err != nil {
			return res, fmt.Errorf("staff %s: %w", s.email, err)
		}
		res.SignIns = append(res.SignIns, fmt.Sprintf("%-11s %s / %s (/admin)", s.roles[0], s.email, demoStaffPassword))
	}
	res.Lines = append(res.Lines, fmt.Sprintf("%d back-office users", len(demoStaff)))
	return res, nil
}
