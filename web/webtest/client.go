package webtest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// Client is an HTTP client for handler tests: it keeps cookies (session,
// language, CSRF), remembers the last CSRF token a page carried and adds it
// to forms and htmx requests, and parses HTML answers with goquery.
type Client struct {
	t    testing.TB
	Base string
	HTTP *http.Client
	// Header is sent with every request (e.g. Accept-Language).
	Header http.Header
	// FollowRedirects, on by default, makes a 3xx answer fetch its Location.
	FollowRedirects bool
	csrf            string
}

// NewClient returns a client of the server at base (App.URL).
func NewClient(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	c := &Client{t: t, Base: base, Header: http.Header{}, FollowRedirects: true}
	c.HTTP = &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			if c.FollowRedirects {
				return nil
			}
			return http.ErrUseLastResponse
		},
	}
	return c
}

// Page is one answer.
type Page struct {
	Status int
	Header http.Header
	Body   string
	// URL is where the answer came from, after redirects.
	URL *url.URL
	// Doc is the parsed HTML (an empty document for other content).
	Doc *goquery.Document
}

// Text returns the trimmed text of the elements matching sel.
func (p *Page) Text(sel string) string { return strings.TrimSpace(p.Doc.Find(sel).Text()) }

// TestID returns the trimmed text of the elements with data-testid=id.
func (p *Page) TestID(id string) string { return p.Text(`[data-testid="` + id + `"]`) }

// Get fetches path (relative to Base).
func (c *Client) Get(path string) *Page {
	return c.Do(c.NewRequest(http.MethodGet, path, nil))
}

// PostForm posts form to path, adding the CSRF token when form has none.
func (c *Client) PostForm(path string, form url.Values) *Page {
	form = c.withCSRF(form)
	req := c.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// HTMX sends what htmx sends for an hx-get/hx-post: HX-Request and the CSRF
// header from the page's meta tag; form may be nil.
func (c *Client) HTMX(method, path string, form url.Values) *Page {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := c.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("HX-Request", "true")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	return c.Do(req)
}

// CSRFToken is the token from the last page that carried one.
func (c *Client) CSRFToken() string { return c.csrf }

// NewRequest builds a request to path with the client's default headers.
func (c *Client) NewRequest(method, path string, body io.Reader) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		c.t.Fatalf("webtest: %v", err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	return req
}

// Do sends req and reads the whole answer; a transport error fails the test.
func (c *Client) Do(req *http.Request) *Page {
	c.t.Helper()
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("webtest: %s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("webtest: read %s: %v", req.URL, err)
	}
	p := &Page{Status: res.StatusCode, Header: res.Header, Body: string(b), URL: res.Request.URL}
	p.Doc, err = goquery.NewDocumentFromReader(strings.NewReader(p.Body))
	if err != nil {
		c.t.Fatalf("webtest: parse %s: %v", req.URL, err)
	}
	if tok, ok := p.Doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok && tok != "" {
		c.csrf = tok
	} else if tok, ok := p.Doc.Find(`input[name="_csrf"]`).Attr("value"); ok && tok != "" {
		c.csrf = tok
	}
	return p
}

func (c *Client) withCSRF(form url.Values) url.Values {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("_csrf") == "" && c.csrf != "" {
		form.Set("_csrf", c.csrf)
	}
	return form
}
