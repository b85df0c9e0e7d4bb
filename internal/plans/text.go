package plans

import (
	"fmt"
	"strconv"
	"strings"
)

// The back office edits a plan's items as text, one item a line:
//
//	deepseek-chat: 120 requests/5h, 1000 requests/week
//	group=qwen qwen-plus qwen-max: 2000000 tokens/period
//	kimi-k2: unlimited requests/day
//
// models (and an optional group=name) before the colon; after it, quotas
// separated by commas, each "<limit|unlimited> <requests|tokens>/<window>"
// with the window "<N>h" (rolling hours), "day", "week" or "period".
// FormatItems writes this form and ParseItems reads it back; Validate then
// checks the rules.

// FormatItems writes items one a line in the back office's text form.
func FormatItems(items []Item) string {
	lines := make([]string, 0, len(items))
	for _, it := range items {
		head := strings.Join(it.Models, " ")
		if it.Group != "" {
			head = "group=" + it.Group + " " + head
		}
		qs := make([]string, len(it.Quotas))
		for i, q := range it.Quotas {
			limit := strconv.FormatInt(q.Limit, 10)
			if q.Limit == Unlimited {
				limit = "unlimited"
			}
			qs[i] = limit + " " + string(q.Unit) + "/" + windowText(q.Window)
		}
		lines = append(lines, head+": "+strings.Join(qs, ", "))
	}
	return strings.Join(lines, "\n")
}

func windowText(w Window) string {
	if w.Kind == WindowRolling {
		return strconv.Itoa(w.Hours) + "h"
	}
	return string(w.Kind)
}

// ParseItems reads FormatItems' text form. Errors name the line (1-based)
// and what could not be read; the rules (no duplicate model, limits …) are
// Validate's.
func ParseItems(text string) ([]Item, error) {
	var items []Item
	for n, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(strings.NewReplacer("：", ":", "，", ",", "　", " ").Replace(line))
		if line == "" {
			continue
		}
		head, quotas, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: models, a colon, then the quotas", n+1)
		}
		var it Item
		for _, f := range strings.Fields(head) {
			if g, isGroup := strings.CutPrefix(f, "group="); isGroup {
				it.Group = g
				continue
			}
			it.Models = append(it.Models, f)
		}
		for _, q := range strings.Split(quotas, ",") {
			quota, err := parseQuota(strings.TrimSpace(q))
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", n+1, strings.TrimSpace(q), err)
			}
			it.Quotas = append(it.Quotas, quota)
		}
		items = append(items, it)
	}
	return items, nil
}

func parseQuota(s string) (Quota, error) {
	limitText, rest, ok := strings.Cut(s, " ")
	unitText, windowText, ok2 := strings.Cut(strings.TrimSpace(rest), "/")
	if !ok || !ok2 {
		return Quota{}, fmt.Errorf("write <limit> <requests|tokens>/<window>")
	}
	q := Quota{Unit: Unit(strings.TrimSpace(unitText))}
	if limitText == "unlimited" || limitText == "-1" {
		q.Limit = Unlimited
	} else {
		n, err := strconv.ParseInt(strings.ReplaceAll(limitText, ",", ""), 10, 64)
		if err != nil {
			return Quota{}, fmt.Errorf("the limit is a whole number or unlimited")
		}
		q.Limit = n
	}
	switch w := strings.TrimSpace(windowText); {
	case strings.HasSuffix(w, "h"):
		h, err := strconv.Atoi(strings.TrimSuffix(w, "h"))
		if err != nil {
			return Quota{}, fmt.Errorf("a rolling window is a number of hours such as 5h")
		}
		q.Window = Rolling(h)
	default:
		q.Window = Window{Kind: WindowKind(w)}
	}
	return q, nil
}
