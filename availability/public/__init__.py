"""Anonymous availability for web pages: the checks an operator publishes under aliases (`PUBLIC_AVAILABILITY`),
answered without a function key, cacheable by browsers and CDNs, readable from the listed origins
(`PUBLIC_ALLOWED_ORIGINS`), and `widget.js`, the drop-in script that shows a page's chat button only when it
makes sense. The blueprint is `availability.public.blueprint`; nothing is imported here.
"""
