package web_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seed75218f88/credits/internal/auth"
	"github.com/seed75218f88/credits/web/webtest"
)

func TestAdminReasonCodes(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	admin := b.staff(t, "reasons", auth.RoleAdmin)
	admin.Get("/admin/reasons")
	bad := admin.PostForm("/admin/reasons", url.Values{"code": {"Bad Code"}, "label_zh": {"坏"}, "label_en": {"Bad"}})
	require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
	require.NotEmpty(t, bad.TestID("error-code"))
	code := fmt.Sprintf("launch_%d", adminSeq.Add(1))
	p := admin.PostForm("/admin/reasons", url.Values{"code": {code}, "label_zh": {"上线活动"}, "label_en": {"Launch"}})
	require.Equal(t, http.StatusOK, p.Status)
	require.NotEmpty(t, p.TestID("reason-"+code))
	p = admin.PostForm("/admin/reasons/"+code+"/active", url.Values{"active": {"false"}})
	require.NotEmpty(t, p.Doc.Find(`[data-testid="reason-`+code+`"] [data-testid="reason-activate"]`).Nodes, "deactivated")
}

// upload posts a file as multipart form data with the CSRF token.
func upload(t *testing.T, c *webtest.Client, path, field, name string, content []byte) *webtest.Page {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	require.NoError(t, w.WriteField("_csrf", c.CSRFToken()))
	fw, err := w.CreateFormFile(field, name)
	require.NoError(t, err)
	_, err = fw.Write(content)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	req := c.NewRequest(http.MethodPost, path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

// A WeChat Pay bill none of whose trades we know lands in "only at the
// channel"; each difference resolves with a reason.
func TestAdminChannelReconciliation(t *testing.T) {
	t.Parallel()
	b := setupAdmin(t)
	finance := b.staff(t, "channel", auth.RoleFinance)
	finance.Get("/admin/channel")
	bill, err := os.ReadFile("../internal/reconcile/testdata/wechat_all.csv")
	require.NoError(t, err)
	empty := upload(t, finance, "/admin/channel", "file", "empty.csv", []byte("nothing here"))
	require.Equal(t, http.StatusUnprocessableEntity, empty.Status)
	require.NotEmpty(t, empty.TestID("error-file"))
	p := upload(t, finance, "/admin/channel", "file", "wechat.csv", bill)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.NotEmpty(t, p.TestID("bill-result"))
	rows := p.Doc.Find(`[data-testid="diff-only_channel"] tbody tr`)
	require.Positive(t, rows.Length())
	id, _ := rows.First().Attr("data-testid")
	var diff int64
	_, err = fmt.Sscanf(id, "difference-%d", &diff)
	require.NoError(t, err)
	r := finance.PostForm(fmt.Sprintf("/admin/channel/differences/%d/resolve", diff), url.Values{"reason": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	r = finance.PostForm(fmt.Sprintf("/admin/channel/differences/%d/resolve", diff), url.Values{"reason": {"test trade"}})
	require.Equal(t, http.StatusOK, r.Status)
	require.Empty(t, r.TestID(id), "resolved differences leave the list")
}
