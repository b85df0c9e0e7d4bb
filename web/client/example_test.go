package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/seed75218f88/credits/web/client"
)

// Reserve before a streaming call, commit what it used after. The server
// and service key come from CREDITS_URL and CREDITS_SERVICE_KEY
// (TestExamplesAgainstALiveServer runs this against a live test server).
func Example_reserveCommit() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("CREDITS_URL"), os.Getenv("CREDITS_SERVICE_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	// Once per customer: the account (verified by the platform) and some credit.
	acct, err := c.PutAccountWithResponse(ctx, "user-42", client.AccountInput{Name: client.Ptr("Lin Wei"),
		Verification: &client.AccountVerification{Reference: "kyc-42", Status: client.Verified}})
	if err != nil || acct.StatusCode() >= 300 {
		log.Fatalf("account: %v %s", err, acct.Body)
	}
	grant, err := c.GrantWithResponse(ctx, "user-42", client.GrantInput{Amount: "100", Kind: client.GrantInputKindPromo,
		ReasonCode: "welcome", IdempotencyKey: "welcome-user-42"})
	if err != nil || grant.JSON201 == nil {
		log.Fatalf("grant: %v %s", err, grant.Body)
	}

	// Every streaming call: hold, call the model, commit what it used.
	r, err := c.ReserveWithResponse(ctx, client.ReserveInput{Account: "user-42", Model: "deepseek-chat",
		MaxInputTokens: 1000, MaxOutputTokens: 4096, IdempotencyKey: "call-1"})
	if err != nil || r.JSON201 == nil {
		log.Fatalf("reserve: %v %s", err, r.Body)
	}
	done, err := c.CommitWithResponse(ctx, r.JSON201.Id, client.CommitInput{InputTokens: client.Ptr(812), OutputTokens: client.Ptr(240)})
	if err != nil || done.JSON200 == nil {
		log.Fatalf("commit: %v %s", err, done.Body)
	}
	fmt.Println("held", r.JSON201.Reserved)
	fmt.Println("charged", done.JSON200.Charged, "available", done.JSON200.Available)
}

// Charge non-streaming calls in batches of up to 500; each event is
// accepted, a duplicate (its idempotency key was seen) or rejected.
func Example_usageBatch() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("CREDITS_URL"), os.Getenv("CREDITS_SERVICE_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	at := time.Now() // when each call happened
	res, err := c.IngestUsageWithResponse(ctx, client.UsageBatch{Events: []client.UsageEvent{
		{IdempotencyKey: "call-2", Account: "user-42", Model: "deepseek-chat",
			InputTokens: client.Ptr(1200), OutputTokens: client.Ptr(300), OccurredAt: at},
		{IdempotencyKey: "call-3", Account: "user-42", Model: "no-such-model",
			InputTokens: client.Ptr(10), OccurredAt: at},
	}})
	if err != nil || res.JSON200 == nil {
		log.Fatalf("usage: %v %s", err, res.Body)
	}
	fmt.Println("accepted", res.JSON200.Accepted, "duplicates", res.JSON200.Duplicates)
	for _, r := range res.JSON200.Rejected {
		fmt.Println("rejected", r.Index, r.Code)
	}
}
