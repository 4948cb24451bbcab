// Command fakeinformatica serves the simulated Informatica of package fake on
// its own, for scripts that run the exporter as a separate process against it
// (soak and benchmark runs).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	created := flag.Duration("created-for", 100*time.Millisecond, "how long jobs stay CREATED")
	processing := flag.Duration("processing-for", 200*time.Millisecond, "how long jobs stay PROCESSING")
	days := flag.Int("days", 120, "days of usage history")
	flag.Parse()

	f := fake.New(fake.Options{CreatedFor: *created, ProcessingFor: *processing, Days: *days})
	if err := f.Start(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "fakeinformatica:", err)
		os.Exit(1)
	}
	// The first line tells scripts where to point the exporter.
	fmt.Printf("url=%s username=%s password=%s\n", f.URL(), f.Username(), f.Password())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	f.Close()
}
