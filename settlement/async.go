package settlement

import (
	"io"
)

// asyncWriter moves writes (and whatever the sink does, e.g. hashing) to a goroutine so
// that the settling goroutine and the disk work in parallel: Write copies into a buffer,
// full buffers are handed over, two buffers circulate. Close flushes and returns the first
// error of the sink.
type asyncWriter struct {
	sink io.Writer
	cur  []byte
	full chan []byte
	free chan []byte
	done chan error
	err  error
}

const asyncBuffer = 1 << 20

func newAsyncWriter(sink io.Writer) *asyncWriter {
	a := &asyncWriter{sink: sink, cur: make([]byte, 0, asyncBuffer), full: make(chan []byte, 1),
		free: make(chan []byte, 2), done: make(chan error, 1)}
	a.free <- make([]byte, 0, asyncBuffer)
	go func() {
		var err error
		for b := range a.full {
			if err == nil {
				_, err = a.sink.Write(b)
			}
			a.free <- b[:0]
		}
		a.done <- err
	}()
	return a
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	a.cur = append(a.cur, p...)
	if len(a.cur) >= asyncBuffer {
		a.full <- a.cur
		a.cur = <-a.free
	}
	return len(p), nil
}

// Close writes what is buffered, stops the goroutine and returns the sink's first error.
// It must be called exactly once.
func (a *asyncWriter) Close() error {
	if len(a.cur) > 0 {
		a.full <- a.cur
	}
	close(a.full)
	err := <-a.done
	if a.err == nil {
		a.err = err
	}
	if a.err == nil {
		a.err = io.ErrClosedPipe // further writes fail
		return nil
	}
	return a.err
}
