/* Keeps the function key (when it came in the address) on the filter form, so "Show" is not refused; nothing else runs. */
(function () {
  var code = new URLSearchParams(location.search).get('code');
  var form = document.getElementById('filters');
  if (!code || !form) return;
  var input = document.createElement('input');
  input.type = 'hidden';
  input.name = 'code';
  input.value = code;
  form.appendChild(input);
})();
