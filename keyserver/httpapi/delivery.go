package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// routeDeliveries adds the gateway's delivery reports under v1.
func (h *handlers) routeDeliveries(v1 *echo.Group) {
	v1.POST("/deliveries", func(c echo.Context) error {
		var req api.DeliveryRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		reports := make([]keyserver.DeliveryReport, len(req.Deliveries))
		for i, d := range req.Deliveries {
			reports[i] = keyserver.DeliveryReport{ID: d.ID, State: d.State, Detail: d.Detail, GaveUpAfter: d.GaveUpAfter, At: d.At}
		}
		n, err := h.s.ReportDeliveries(c.Request().Context(), reports)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.DeliveryResult{Changed: n})
	}, h.gatewayOnly, h.bodyLimit(maxAPIBody))
}

// viewDelivery is an envelope's delivery state for the API; nil before any report.
func viewDelivery(d *keyserver.Delivery) *api.Delivery {
	if d == nil {
		return nil
	}
	return &api.Delivery{State: d.State, Detail: d.Detail, GaveUpAfter: d.GaveUpAfter, At: d.At}
}
