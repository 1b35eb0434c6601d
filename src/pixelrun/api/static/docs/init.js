// Swagger UI on this server's own OpenAPI document (docs/security.md#the-docs-page).
// A file of its own, not an inline script: the page's Content-Security-Policy allows
// scripts from this origin only. validatorUrl: null, or Swagger UI would load a badge
// from an outside validator.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
