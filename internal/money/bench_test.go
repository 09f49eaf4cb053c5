package money_test

import (
	"testing"

	"github.com/kpikit/kpikit/internal/money"
)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = money.Parse("-1234.5678", 4)
	}
}

func BenchmarkFloat(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		money.Float(185026, 2)
	}
}

func BenchmarkTotalAdd(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		var t money.Total
		b.ReportAllocs()
		for b.Loop() {
			t.Add(1234)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var t money.Total
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t.Add(1234)
			}
		})
	})
}
